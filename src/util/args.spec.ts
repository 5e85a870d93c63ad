import { describe, expect, it } from "vitest";
import { joinNegativeValues, parseCommandArgs, suggest } from "./args.js";
import { UserError } from "./errors.js";

const options = { alpha: { type: "string" }, "max-new-tokens": { type: "string" }, json: { type: "boolean" }, overwrite: { type: "boolean" } } as const;

describe("parseCommandArgs", () => {
  it("takes a negative number after a flag that has a value", () => {
    expect(parseCommandArgs({ argv: ["--alpha", "-0.5"], options }).values.alpha).toBe("-0.5");
    expect(parseCommandArgs({ argv: ["--alpha", "-.5", "--json"], options }).values).toMatchObject({ alpha: "-.5", json: true });
    expect(joinNegativeValues(["--json", "-1"], options)).toEqual(["--json", "-1"]); // a boolean takes no value
  });

  it("suggests the flag meant, and accepts old spellings", () => {
    expect(() => parseCommandArgs({ argv: ["--overwrit"], options })).toThrow(/unknown option --overwrit; did you mean --overwrite\?/);
    expect(() => parseCommandArgs({ argv: ["--max-token", "3"], options, aliases: { "max-tokens": "max-new-tokens" } })).toThrow(/did you mean --max-new-tokens\?/);
    expect(parseCommandArgs({ argv: ["--max-tokens=3"], options, aliases: { "max-tokens": "max-new-tokens" } }).values["max-new-tokens"]).toBe("3");
    expect(suggest("zzzzzz", Object.keys(options))).toBeUndefined();
  });

  it("turns every parse error into a UserError (exit 2)", () => {
    for (const argv of [["--alpha"], ["stray"], ["--nope"]]) {
      let err: unknown;
      try {
        parseCommandArgs({ argv, options });
      } catch (e) {
        err = e;
      }
      expect(err, argv.join(" ")).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(2);
    }
  });
});
