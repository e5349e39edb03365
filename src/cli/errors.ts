/** Errors the CLI prints as one line and turns into an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export { ApiError, ConnectionError, ResyncError } from '../client/index.js';
