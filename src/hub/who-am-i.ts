/** Who the client's token belongs to (the bot finds its own discussion threads by this name). */
import { whoAmI } from "@huggingface/hub";
import type { HubClient } from "./client.js";
import { HubAuthError, toHubError } from "./errors.js";

export async function getTokenUser(params: { client: HubClient }): Promise<{ name: string; type: string }> {
  const { client } = params;
  const creds = client.credentials();
  if (!creds.accessToken) throw new HubAuthError("who am I: no Hub token is configured", { ctx: { op: "who am I" } });
  try {
    const me = await whoAmI({ ...creds, accessToken: creds.accessToken });
    return { name: me.name, type: me.type };
  } catch (err) {
    throw toHubError(err, { op: "who am I" }, client.errorHeaders);
  }
}
