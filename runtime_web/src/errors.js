/** Every failure a user can cause (bad bundle, bad input, missing backend) is a WebjitError
 * whose message is one sentence naming the thing and what to do. */
export class WebjitError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'WebjitError';
  }
}
