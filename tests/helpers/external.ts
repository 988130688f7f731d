/*
 * Helpers that let tests check our output with software we did not write: the system's OpenSSL
 * 3.0 (Debian 12), OpenSSL 3.5 and zlint 3.6 (Debian 13, unpacked into .tools/ by
 * scripts/install-test-tools.sh). No test-framework dependency: usable from any spec or script.
 * See docs/testing-tools.md.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type ToolName = 'openssl' | 'openssl35' | 'zlint'
export type OpensslBinary = 'openssl' | 'openssl35'

/** The repository root: the nearest ancestor of this file holding scripts/install-test-tools.sh. */
export const repoRoot: string = findRepoRoot(dirname(fileURLToPath(import.meta.url)))

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'install-test-tools.sh'))) return dir
    if (dirname(dir) === dir) return join(start, '..', '..')
  }
}

/** Absolute path of an external tool; throws a clear error when it is not installed. */
export function toolPath(name: ToolName): string {
  const path = name === 'openssl' ? '/usr/bin/openssl' : join(repoRoot, '.tools', 'bin', name)
  try {
    accessSync(path, constants.X_OK)
  } catch {
    throw new Error(
      `External tool '${name}' not found at ${path}: run scripts/install-test-tools.sh`
    )
  }
  return path
}

export interface RunOptions {
  /** Written to the child's standard input (which is closed afterwards). */
  input?: string | Buffer
  cwd?: string
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv
  /** Kill the child (SIGKILL) after this many milliseconds; code is then 137. */
  timeoutMs?: number
}

export interface RunResult {
  /** Exit code; 128 + signal number when the child was killed by a signal. */
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs a program and collects its output. Never rejects on a non-zero exit: it rejects only when
 * the program cannot be started (missing binary, bad cwd...).
 */
export function run(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {}
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let timer: NodeJS.Timeout | undefined
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
    }
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    // A child that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => {})
    child.on('error', (error) => {
      if (timer) clearTimeout(timer)
      reject(new Error(`cannot run ${cmd}: ${error.message}`, { cause: error }))
    })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolve({
        code: code ?? 128 + (signal ? signalNumber(signal) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      })
    })
    if (options.input !== undefined) child.stdin.end(options.input)
    else child.stdin.end()
  })
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  }
  return numbers[signal] ?? 0
}

/** Runs fn with a fresh directory under os.tmpdir() and removes it afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'open-pki-test-'))
  try {
    return await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export interface OpensslVerifyOptions {
  /** Trust anchors, PEM (each string may hold several certificates). */
  roots: string[]
  /** Intermediate certificates, PEM. */
  untrusted?: string[]
  /** The certificate to verify, PEM. */
  cert: string
  /** -x509_strict; default true. */
  strict?: boolean
  /** -purpose, e.g. 'sslserver', 'sslclient', 'smimesign', 'crlsign', 'any', 'timestampsign'. */
  purpose?: string
  /** CRLs, PEM ('-----BEGIN X509 CRL-----': OpenSSL does not read 'BEGIN CRL'). */
  crls?: string[]
  /** 'leaf' → -crl_check, 'all' → -crl_check_all. Defaults to 'leaf' when crls are given. */
  crlCheck?: 'leaf' | 'all'
  /** -attime: verify as of this moment instead of now. */
  atTime?: Date
  /** More arguments placed before the certificate file (e.g. ['-policy', OID, '-explicit_policy']). */
  extraArgs?: string[]
  binary?: OpensslBinary
}

export interface VerifyResult {
  ok: boolean
  /** stdout and stderr of `openssl verify`. */
  output: string
}

/**
 * `openssl verify` against exactly the given roots (the system trust store is excluded).
 * ok only when openssl exits 0 and prints '<file>: OK'.
 */
export async function opensslVerify(options: OpensslVerifyOptions): Promise<VerifyResult> {
  const bin = toolPath(options.binary ?? 'openssl')
  return withTempDir(async (dir) => {
    const file = async (name: string, pems: string[]) => {
      const path = join(dir, name)
      await writeFile(path, pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''))
      return path
    }
    const args = [
      'verify',
      '-no-CApath',
      '-no-CAstore',
      '-CAfile',
      await file('roots.pem', options.roots),
    ]
    if (options.strict ?? true) args.push('-x509_strict')
    if (options.purpose) args.push('-purpose', options.purpose)
    if (options.untrusted?.length)
      args.push('-untrusted', await file('untrusted.pem', options.untrusted))
    if (options.crls?.length) args.push('-CRLfile', await file('crls.pem', options.crls))
    const crlCheck = options.crlCheck ?? (options.crls?.length ? 'leaf' : undefined)
    if (crlCheck === 'leaf') args.push('-crl_check')
    if (crlCheck === 'all') args.push('-crl_check_all')
    if (options.atTime) args.push('-attime', String(Math.floor(options.atTime.getTime() / 1000)))
    if (options.extraArgs) args.push(...options.extraArgs)
    args.push(await file('cert.pem', [options.cert]))
    const { code, stdout, stderr } = await run(bin, args)
    const output = `${stdout}${stderr}`
    return { ok: code === 0 && /: OK\s*$/m.test(stdout), output }
  })
}

/** opensslVerify with OpenSSL 3.5 (the one that knows ML-DSA). */
export function openssl35Verify(
  options: Omit<OpensslVerifyOptions, 'binary'>
): Promise<VerifyResult> {
  return opensslVerify({ ...options, binary: 'openssl35' })
}

/** `openssl x509|req|crl -noout -text` of a PEM object; throws when OpenSSL cannot parse it. */
export async function opensslText(
  pem: string,
  kind: 'x509' | 'req' | 'crl',
  binary: OpensslBinary = 'openssl'
): Promise<string> {
  const { code, stdout, stderr } = await run(toolPath(binary), [kind, '-noout', '-text'], {
    input: pem,
  })
  if (code !== 0) throw new Error(`${binary} ${kind} -noout -text failed (exit ${code}): ${stderr}`)
  return stdout
}

/** `openssl req -verify -noout`: true when the CSR's self-signature verifies. */
export async function opensslReqVerify(
  csrPem: string,
  binary: OpensslBinary = 'openssl'
): Promise<boolean> {
  const { code, stdout, stderr } = await run(toolPath(binary), ['req', '-verify', '-noout'], {
    input: csrPem,
  })
  return (
    code === 0 &&
    /verify OK/i.test(`${stdout}${stderr}`) &&
    !/verify fail/i.test(`${stdout}${stderr}`)
  )
}

export type ZlintResult = 'pass' | 'NA' | 'NE' | 'info' | 'notice' | 'warn' | 'error' | 'fatal'

export interface ZlintFinding {
  lint: string
  result: ZlintResult
  details?: string
}

export interface ZlintOptions {
  /** Lint sources to skip, e.g. ['Apple', 'Mozilla'] (`zlint -list-lints-source`). */
  excludeSources?: string[]
  /** Lints to skip by name, e.g. ZLINT_ML_DSA_EXCLUDE_NAMES for ML-DSA certificates. */
  excludeNames?: string[]
}

export interface ZlintReport {
  findings: ZlintFinding[]
  /** Names of the lints whose result is 'error' or 'fatal'. */
  errors: string[]
  /** Names of the lints whose result is 'warn'. */
  warnings: string[]
}

/**
 * zlint 3.6 does not know ML-DSA: on ML-DSA certificates these lints fail for the algorithm
 * alone (unknown SubjectPublicKeyInfo / signature algorithm). Pass as `excludeNames`.
 * (zlint also cannot check an ML-DSA self-signature, so it lints ML-DSA roots as sub-CAs:
 * e_sub_ca_* lints then apply to them.)
 */
export const ZLINT_ML_DSA_EXCLUDE_NAMES: readonly string[] = Object.freeze([
  'e_algorithm_identifier_improper_encoding',
  'e_public_key_type_not_allowed',
  'e_signature_algorithm_not_supported',
])

/** Lints one PEM certificate with zlint (JSON output: one result per lint). */
export async function zlint(pem: string, options: ZlintOptions = {}): Promise<ZlintReport> {
  const args = ['-format', 'pem']
  if (options.excludeSources?.length) args.push('-excludeSources', options.excludeSources.join(','))
  if (options.excludeNames?.length) args.push('-excludeNames', options.excludeNames.join(','))
  const { code, stdout, stderr } = await run(toolPath('zlint'), args, { input: pem })
  let parsed: Record<string, { result: ZlintResult; details?: string }>
  try {
    parsed = JSON.parse(stdout) as typeof parsed
  } catch {
    throw new Error(`zlint failed (exit ${code}): ${stderr || stdout}`)
  }
  if (code !== 0 || parsed === null || typeof parsed !== 'object') {
    throw new Error(`zlint failed (exit ${code}): ${stderr || stdout}`)
  }
  const findings: ZlintFinding[] = Object.entries(parsed).map(([lint, r]) =>
    r.details ? { lint, result: r.result, details: r.details } : { lint, result: r.result }
  )
  return {
    findings,
    errors: findings.filter((f) => f.result === 'error' || f.result === 'fatal').map((f) => f.lint),
    warnings: findings.filter((f) => f.result === 'warn').map((f) => f.lint),
  }
}

/**
 * A self-signed P-256 certificate made by `openssl req -x509` in `dir` (key.pem, cert.pem unless
 * `name` says otherwise). `addext` entries become `-addext` arguments.
 */
export async function opensslSelfSigned(
  dir: string,
  options: { subject: string; days?: number; addext?: string[]; extra?: string[]; name?: string }
): Promise<{ certPath: string; keyPath: string; certPem: string }> {
  const name = options.name ?? 'cert'
  const keyPath = join(dir, `${name}.key`)
  const certPath = join(dir, `${name}.pem`)
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  args.push('-keyout', keyPath, '-out', certPath, '-subj', options.subject)
  args.push('-days', String(options.days ?? 30), ...(options.extra ?? []))
  for (const ext of options.addext ?? []) args.push('-addext', ext)
  const made = await run(toolPath('openssl'), args)
  if (made.code !== 0) throw new Error(`openssl req -x509 failed: ${made.stderr}`)
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8') }
}
