/** A live display of what apply follows: one line per object, redrawn in place on a terminal, one line per change otherwise. */
export class Progress {
  private readonly lines = new Map<string, string>();
  private drawn = 0;
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream) {
    this.tty = Boolean(out.isTTY) && !process.env.CI;
  }

  line(key: string, text: string, fraction?: number): void {
    const shown = `${key.padEnd(32)} ${fraction !== undefined && fraction < 1 ? `${bar(fraction)} ` : ''}${text}`;
    if (this.lines.get(key) === shown) return;
    this.lines.set(key, shown);
    if (!this.tty) {
      this.out.write(`${shown}\n`);
      return;
    }
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    for (const l of this.lines.values()) this.out.write(`\x1b[2K${l}\n`);
    this.drawn = this.lines.size;
  }

  /** Stops redrawing; later lines start below. */
  done(): void {
    this.drawn = 0;
    this.lines.clear();
  }
}

function bar(f: number): string {
  const n = Math.round(f * 20);
  return `[${'#'.repeat(n)}${'.'.repeat(20 - n)}] ${String(Math.round(f * 100)).padStart(3)}%`;
}
