/** Errors the CLI prints as one line and turns into an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

/** An error answer from the API, with its stable code. */
export class ApiError extends CliError {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message, 1);
    this.name = 'ApiError';
  }
}
