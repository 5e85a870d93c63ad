/** Shared fixtures for the hub/ and hub-server/ specs (not a spec itself). */
import { serializeSafetensors } from "../safetensors/writer.js";
import { startLocalHub, type LocalHub, type LocalHubOptions } from "../hub-server/server.js";
import { createHubClient, type HubClient, type HubClientOptions } from "./client.js";

export const TOKEN = "hf_testtoken_secret_123456";
export const OTHER_TOKEN = "hf_othertoken_secret_654321";

/** Deterministic float32 bytes for a shape. */
export function f32(shape: number[], seed: number): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    out[i] = x / 2 ** 32 - 0.5;
  }
  return new Uint8Array(out.buffer);
}

export function tinyModel(seed = 1): Uint8Array {
  return serializeSafetensors([
    { name: "model.embed_tokens.weight", dtype: "F32", shape: [16, 8], data: f32([16, 8], seed) },
    { name: "model.layers.0.self_attn.q_proj.weight", dtype: "F32", shape: [8, 8], data: f32([8, 8], seed + 1) },
    { name: "model.norm.weight", dtype: "F32", shape: [8], data: f32([8], seed + 2) },
  ]);
}

export const CARD = `---
license: apache-2.0
base_model: org/sft
tags:
- expo
library_name: transformers
pipeline_tag: text-generation
---
# Aligned model
`;

export const CONFIG = JSON.stringify({ architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 8, vocab_size: 16 });

export interface Fixture {
  hub: LocalHub;
  client: HubClient;
  anon: HubClient;
  sleeps: number[];
}

/** A local Hub with `org/aligned` (card, config, model.safetensors) and a fast-retrying client. */
export async function startFixture(options: LocalHubOptions = {}, clientOptions: HubClientOptions = {}): Promise<Fixture> {
  const hub = await startLocalHub(options);
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.addToken(OTHER_TOKEN, "someone");
  hub.admin.createRepo("org/aligned", { files: { "README.md": CARD, "config.json": CONFIG, "model.safetensors": tinyModel(1) } });
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  const client = createHubClient({ token: TOKEN, hubUrl: hub.url, sleep, ...clientOptions });
  const anon = createHubClient({ hubUrl: hub.url, sleep });
  return { hub, client, anon, sleeps };
}

/** The rejection of a promise that must fail (fails the test if it resolves). */
export async function rejectionOf<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    return err as E;
  }
  throw new Error("expected the promise to reject");
}
