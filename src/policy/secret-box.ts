/**
 * Encryption of secret values at rest: AES-256-GCM, a random 96-bit nonce per value, and the id
 * of the key that sealed it, so that keys can be rotated.
 *
 * The keys live in a key file in the server's data dir (mode 0600, created on first start):
 *
 *   {"version": 1, "active": "k-1a2b3c4d", "keys": {"k-1a2b3c4d": "<32 random bytes, base64>"}}
 *
 * New values are sealed with the active key; any key in the file opens what it sealed. Rotation
 * (`rotate()` then, once nothing uses them, `retire()`) adds a key, makes it active, and drops the
 * others. Each value is bound to where it belongs (its "context": project, secret and key) as
 * additional authenticated data, so a sealed value copied elsewhere in the store does not open.
 *
 * Nothing here logs or puts a value, sealed or not, into an error message.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export const SECRET_KEY_FILE = 'secret-keys.json';

/** A sealed value as stored: key id, nonce and ciphertext with its 16-byte tag (base64). */
export interface SealedValue {
  k: string;
  n: string;
  c: string;
}

interface KeyFile {
  version: 1;
  active: string;
  keys: Record<string, string>;
}

/** A value could not be opened: unknown key, or the ciphertext or its context was altered. */
export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  private keys: Map<string, Buffer>;
  private activeId: string;
  /** Serializes changes of the key file. */
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(readonly file: string, file0: KeyFile) {
    this.keys = new Map(Object.entries(file0.keys).map(([id, k]) => [id, Buffer.from(k, 'base64')]));
    this.activeId = file0.active;
  }

  /**
   * Loads the key file, creating it (with one new key) when it does not exist. A file others can
   * read is made 0600 and reported through `warn`. Throws a readable error for a damaged file.
   */
  static async open(file: string, warn: (msg: string) => void = () => {}): Promise<SecretBox> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const id = newKeyId();
      const created: KeyFile = { version: 1, active: id, keys: { [id]: randomBytes(KEY_BYTES).toString('base64') } };
      await writeKeyFile(file, created);
      return new SecretBox(file, created);
    }
    const mode = (await stat(file)).mode & 0o777;
    if (mode & 0o077) {
      await chmod(file, 0o600);
      warn(`${file} was readable by others (mode ${mode.toString(8)}); made it 0600. Consider rotating the secret key (stratus admin rotate-secret-key).`);
    }
    return new SecretBox(file, parseKeyFile(text, file));
  }

  /** A box with one random key and no file, for tests. */
  static ephemeral(): SecretBox {
    const id = newKeyId();
    return new SecretBox('', { version: 1, active: id, keys: { [id]: randomBytes(KEY_BYTES).toString('base64') } });
  }

  get activeKeyId(): string {
    return this.activeId;
  }

  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * A MAC of `text` under the active key: servers sharing a store share the key file (checked at
   * start), so it proves a request comes from a server of this cloud (peer blob fetches).
   */
  mac(text: string): string {
    return createHmac('sha256', this.keys.get(this.activeId)!).update(`stratus peer\0${text}`).digest('hex');
  }

  /** Each key's fingerprint (an HMAC of a fixed text under the key): equal fingerprints, same key; reveals nothing of it. */
  fingerprints(): Record<string, string> {
    return Object.fromEntries([...this.keys].map(([id, k]) => [id, createHmac('sha256', k).update('stratus secret key fingerprint').digest('hex').slice(0, 32)]));
  }

  /** Seals `plain` with the active key, bound to `context`. */
  seal(plain: Buffer, context: string): SealedValue {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeId)!, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return { k: this.activeId, n: nonce.toString('base64'), c: body.toString('base64') };
  }

  /** Opens a sealed value; throws SecretKeyError if its key is unknown or anything was altered. */
  open(sealed: SealedValue, context: string): Buffer {
    const key = this.keys.get(sealed.k);
    if (!key) throw new SecretKeyError(`sealed with key "${sealed.k}", which the server's key file does not have (it has ${this.keyIds().join(', ')}); restore the key file that has it`);
    const body = Buffer.from(sealed.c, 'base64');
    const nonce = Buffer.from(sealed.n, 'base64');
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new SecretKeyError('the sealed value is damaged');
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new SecretKeyError(`the sealed value does not authenticate with key "${sealed.k}" (altered, moved, or sealed with another key of that id)`);
    }
  }

  /** Adds a new key, saves the file, then makes the key the active one (old keys stay until retire()). */
  rotate(): Promise<string> {
    return this.change((keys) => {
      const id = newKeyId();
      keys.set(id, randomBytes(KEY_BYTES));
      return { active: id, out: id };
    });
  }

  /** Removes every key but the active one and those in `keep`, and saves the file. */
  retire(keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    return this.change((keys, active) => {
      const gone = [...keys.keys()].filter((id) => id !== active && !keep.has(id));
      for (const id of gone) keys.delete(id);
      return { active, out: gone };
    });
  }

  /**
   * Applies `fn` to a copy of the keys, writes the file, and only then uses the new keys: a value
   * is never sealed with a key that is not on disk.
   */
  private change<T>(fn: (keys: Map<string, Buffer>, active: string) => { active: string; out: T }): Promise<T> {
    const next = this.writing.then(async () => {
      const keys = new Map(this.keys);
      const { active, out } = fn(keys, this.activeId);
      if (this.file) await writeKeyFile(this.file, snapshot(keys, active));
      this.keys = keys;
      this.activeId = active;
      return out;
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}

function snapshot(keys: Map<string, Buffer>, active: string): KeyFile {
  return { version: 1, active, keys: Object.fromEntries([...keys].map(([id, k]) => [id, k.toString('base64')])) };
}

function newKeyId(): string {
  return `k-${randomBytes(4).toString('hex')}`;
}

function parseKeyFile(text: string, file: string): KeyFile {
  let parsed: Partial<KeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<KeyFile>;
  } catch {
    throw new Error(`${file} is not valid JSON; restore it from a backup (it holds the keys of every secret)`);
  }
  const keys = parsed.keys;
  const valid = parsed.version === 1 && typeof parsed.active === 'string' && keys && typeof keys === 'object'
    && Object.values(keys).every((k) => typeof k === 'string' && Buffer.from(k, 'base64').length === KEY_BYTES)
    && typeof keys[parsed.active] === 'string';
  if (!valid) throw new Error(`${file} is not a Stratus secret key file (version 1, an active key id, and 32-byte base64 keys); restore it from a backup`);
  return parsed as KeyFile;
}

/**
 * Writes the key file with mode 0600 through a temporary file renamed over the old one, so that
 * a crash leaves the old file or the new one, whole.
 */
async function writeKeyFile(file: string, content: KeyFile): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(`${JSON.stringify(content, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
