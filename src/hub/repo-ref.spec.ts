import { describe, expect, it } from "vitest";
import { formatRepoRef, looksLikeRepoRef, parseRepoRef } from "./repo-ref.js";
import { UserError } from "../util/errors.js";

describe("parseRepoRef", () => {
  it("parses ids with and without a revision", () => {
    expect(parseRepoRef("owner/name")).toEqual({ repo: "owner/name" });
    expect(parseRepoRef("Qwen/Qwen2.5-0.5B-Instruct@main")).toEqual({ repo: "Qwen/Qwen2.5-0.5B-Instruct", revision: "main" });
    expect(parseRepoRef("a/b@0123456789abcdef0123456789abcdef01234567").revision).toBe("0123456789abcdef0123456789abcdef01234567");
    expect(formatRepoRef({ repo: "a/b", revision: "v1" })).toBe("a/b@v1");
  });

  it("rejects what is not a model id, naming the input", () => {
    for (const bad of ["name", "a/b/c", "../x", "a/..", "a/b@", "/abs/path", "a b/c", "a/b@x y"]) {
      expect(() => parseRepoRef(bad), bad).toThrow(UserError);
    }
    expect(() => parseRepoRef("a/b/c")).toThrow(/"a\/b\/c" is not a Hub model id/);
  });

  it("tells Hub ids from local paths", () => {
    expect(looksLikeRepoRef("org/model")).toBe(true);
    expect(looksLikeRepoRef("./org/model")).toBe(false);
    expect(looksLikeRepoRef("/tmp/model")).toBe(false);
    expect(looksLikeRepoRef("models/a/b")).toBe(false);
  });
});
