/** Progress for people, one line on stderr: stdout stays for results (JSON, tables) that tools read. */
export const progress = (message: string): void => void process.stderr.write(`${message}\n`);
