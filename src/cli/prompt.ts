// A one-line confirmation on the terminal, e.g. Terraform's
// "Do you want to perform these actions? Only 'yes' will be accepted:".
import type { CliIO } from './io.js';

export async function confirm(io: CliIO, question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: io.stdin, output: io.stdout, terminal: false });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(`\n${question} `, resolve);
    });
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}
