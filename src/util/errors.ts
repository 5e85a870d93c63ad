/**
 * An error caused by the user's input (a file, a flag, a model), as opposed to a bug.
 * The CLI prints its message alone, without a stack, and exits with `exitCode`.
 * Messages name the file, field or value that is wrong and, where possible, what to do.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "UserError";
    this.exitCode = options?.exitCode ?? 2;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
