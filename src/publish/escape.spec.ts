import { describe, expect, it } from "vitest";
import { codeBlock, escapeMarkdown, safeRelativePath, safeUrl, scrubSecrets } from "./escape.js";

/** Characters that must never survive unescaped in inline output. */
function assertInert(out: string): void {
  expect(out).not.toMatch(/[<>]/); // no tag can open
  expect(out).not.toMatch(/(^|[^\\])[`|\[\]*_~$]/); // every inline special is backslash-escaped
  expect(out).not.toMatch(/[\r\n]/); // one line
  expect(out).not.toMatch(/@(?!&#8203;)/); // no live mention
  expect(out).not.toMatch(/[a-z]:\/\//i); // no autolink
}

describe("escapeMarkdown", () => {
  const hostile = [
    "<img src=x onerror=alert(1)>",
    "[link](javascript:alert(1))",
    "![img](https://evil.example/x.png)",
    "``code`` and `more`",
    "cell | split | table",
    "@octocat please look",
    "Ping @everyone and mail a@b.co",
    "name\n# Heading\n---\n<script>alert(1)</script>",
    "**bold** _em_ ~~strike~~ $x^2$",
    "<!-- comment --> &amp; &lt;",
    "http://evil.example/path www.evil.example",
    "fixes #1 and GH-2",
    "\u202eevil\u2066",
  ];
  for (const input of hostile) {
    it(`neutralizes ${JSON.stringify(input)}`, () => assertInert(escapeMarkdown(input)));
  }

  it("escapes HTML to entities and keeps the text readable", () => {
    expect(escapeMarkdown(`<img src=x onerror=alert(1)>`)).toBe("&lt;img src=x onerror=alert(1)&gt;");
    expect(escapeMarkdown(`it's "q" & co`)).toBe("it's &quot;q&quot; &amp; co");
  });

  it("leaves ordinary repo ids untouched", () => {
    expect(escapeMarkdown("Qwen/Qwen2.5-7B-Instruct")).toBe("Qwen/Qwen2.5-7B-Instruct");
    expect(escapeMarkdown("HuggingFaceH4/zephyr-7b-beta")).toBe("HuggingFaceH4/zephyr-7b-beta");
  });

  it("escapes block starters only at the start", () => {
    expect(escapeMarkdown("# h")).toBe("\\# h");
    expect(escapeMarkdown("- x")).toBe("\\- x");
    expect(escapeMarkdown("1. x")).toBe("1\\. x");
    expect(escapeMarkdown("a-b #c")).toBe("a-b #c");
  });

  it("collapses newlines and breaks mentions, refs and autolinks", () => {
    expect(escapeMarkdown("a\nb")).toBe("a b");
    expect(escapeMarkdown("@x")).toBe("@&#8203;x");
    expect(escapeMarkdown("#12")).toBe("\\#&#8203;12");
    expect(escapeMarkdown("see https://x.y")).toBe("see https:&#8203;//x.y");
  });

  it("renders null/undefined as empty and stringifies numbers", () => {
    expect(escapeMarkdown(undefined)).toBe("");
    expect(escapeMarkdown(null)).toBe("");
    expect(escapeMarkdown(1.5)).toBe("1.5");
  });
});

describe("scrubSecrets", () => {
  it("redacts token shapes", () => {
    const text = [
      "hf_abcdefghijklmnopqrstuvwxyz0123",
      "ghp_abcdefghijklmnopqrstuvwxyz0123",
      "github_pat_11ABCDEFG0123456789_abcdefghijkl",
      "Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.abc",
      "https://user:s3cret@huggingface.co/x",
      "https://h.co/x?token=abc123&y=1",
    ].join("\n");
    const out = scrubSecrets(text);
    expect(out).not.toMatch(/hf_abc|ghp_abc|github_pat_11|eyJhb|s3cret|abc123/);
    expect(out).toContain("Authorization: [REDACTED]");
    expect(out).toContain("y=1");
    expect(scrubSecrets(out)).toBe(out);
  });
  it("leaves ordinary text alone", () => {
    expect(scrubSecrets("the hf_hub cache, a ghp file, pip install hf_transfer, hf_hub_download()")).toBe(
      "the hf_hub cache, a ghp file, pip install hf_transfer, hf_hub_download()",
    );
  });
});

describe("codeBlock", () => {
  it("uses a fence longer than any backtick run and scrubs secrets", () => {
    const out = codeBlock("a ``` b ```` c\nhf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "text");
    expect(out.startsWith("`````text\n")).toBe(true);
    expect(out.endsWith("\n`````")).toBe(true);
    expect(out).not.toContain("hf_abcdefgh");
  });
  it("drops an unsafe info string", () => {
    expect(codeBlock("x", "js onload=1").split("\n")[0]).toBe("```");
  });
});

describe("safeUrl / safeRelativePath", () => {
  it("allows only http(s) and encodes link-breaking characters", () => {
    expect(safeUrl("javascript:alert(1)")).toBe("#");
    expect(safeUrl("data:text/html,<b>")).toBe("#");
    expect(safeUrl("https://user:pw@h.co/")).toBe("#");
    expect(safeUrl("https://h.co/a (b)\"<x>")).toBe("https://h.co/a%20%28b%29%22%3Cx%3E");
    expect(safeUrl("not a url")).toBe("#");
  });
  it("encodes path segments and drops traversal", () => {
    expect(safeRelativePath("../a b/(c).png")).toBe("a%20b/%28c%29.png");
    expect(safeRelativePath("alpha-curve.png")).toBe("alpha-curve.png");
  });
});
