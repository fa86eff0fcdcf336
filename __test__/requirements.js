'use strict'

// What a test needs from outside npm (Debian packages such as chromium, kcat or gcc; a
// Python venv with a pinned client from PyPI), declared at the top of the test file:
//
//   const requires = require('./requirements')
//   const chromium = requires.debianPackage({ name: 'chromium', binary: '/usr/bin/chromium' })
//   chromium.test('draws the map', async () => { ... chromium.path ... }, 60000)
//
// The rule, the same for every requirement:
// - present: the test runs;
// - missing but obtainable (apt-get as root; pip into a venv of our own): it is installed
//   once, under a lock so parallel jest workers do not run apt twice, then the test runs;
// - still missing: with CI set the test fails naming what is missing and how to get it;
//   without CI it is skipped with a loud notice, and recorded in the file named by
//   SAMSA_TEST_REQUIREMENTS_LOG so scripts/test.js (or globalTeardown) lists it at the end.
// SAMSA_TEST_NO_INSTALL=1 turns installing off (to see the skip and CI paths).
//
// Installing happens when the declaring test file is loaded: that is outside every jest
// timeout, before the file's tests start, and only for the files that run (jest's
// globalSetup is not told which test files will run, so it could only install everything).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawnSync } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')
const LOG_ENV = 'SAMSA_TEST_REQUIREMENTS_LOG'
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'samsa-test')
// apt is machine-wide, so its lock and "lists are fresh" marker are too.
const APT_LOCK = path.join(os.tmpdir(), 'samsa-test-apt.lock')
const APT_UPDATED = path.join(os.tmpdir(), 'samsa-test-apt-updated')
const APT_FRESH_MS = 60 * 60 * 1000

const flag = (v) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
const isCI = () => flag(process.env.CI)
const noInstall = () => flag(process.env.SAMSA_TEST_NO_INSTALL)

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

/** Runs `fn` holding a lock directory shared by every process (jest workers, other runs). */
function withLock(lock, fn, { timeoutMs = 30 * 60 * 1000 } = {}) {
  const deadline = Date.now() + timeoutMs
  fs.mkdirSync(path.dirname(lock), { recursive: true })
  for (;;) {
    try {
      fs.mkdirSync(lock)
      break
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
    }
    // A holder that died leaves its lock behind: take it over.
    let pid = 0
    let age = 0
    try {
      pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'))
    } catch {}
    try {
      age = Date.now() - fs.statSync(lock).mtimeMs
    } catch {}
    if ((pid && !alive(pid)) || (!pid && age > 60000)) {
      fs.rmSync(lock, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${lock} (held by pid ${pid})`)
    sleep(500)
  }
  fs.writeFileSync(path.join(lock, 'pid'), String(process.pid))
  try {
    return fn()
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

/** Runs a command quietly; returns { ok, output } with the output kept for a failure message. */
function run(cmd, args, { timeoutMs = 20 * 60 * 1000, env } = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
    env: { ...process.env, ...env },
  })
  const output = `${r.stdout || ''}${r.stderr || ''}`
  const ok = r.status === 0
  const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`
  return { ok, output, why: `\`${[cmd, ...args].join(' ')}\` failed (${why})` }
}

const tail = (text, lines = 12) => text.trimEnd().split('\n').slice(-lines).join('\n')

function which(name) {
  if (name.includes('/')) return isExecutable(name) ? name : null
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir || '.', name)
    if (isExecutable(p)) return p
  }
  return null
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK)
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

const canApt = () => !noInstall() && process.getuid?.() === 0 && which('apt-get') !== null

/** apt-get install, running `apt-get update` first unless this machine did so within the hour. */
function aptInstall(packages) {
  return withLock(APT_LOCK, () => {
    const env = { DEBIAN_FRONTEND: 'noninteractive' }
    const update = () => {
      const u = run('apt-get', ['update', '-q'], { env, timeoutMs: 10 * 60 * 1000 })
      if (u.ok) fs.writeFileSync(APT_UPDATED, new Date().toISOString())
      return u
    }
    let fresh = false
    try {
      fresh = Date.now() - fs.statSync(APT_UPDATED).mtimeMs < APT_FRESH_MS
    } catch {}
    if (!fresh) {
      const u = update()
      if (!u.ok) return u
    }
    const install = () => run('apt-get', ['install', '-y', '-q', ...packages], { env })
    let r = install()
    // Lists updated by us earlier may be stale by now (a package moved): update and try again.
    if (!r.ok && fresh && update().ok) r = install()
    return r
  })
}

// Installs that failed are remembered for the rest of the run, so each jest worker does not
// try (and wait for) them again.
function failedMarker(id) {
  const log = process.env[LOG_ENV]
  return log ? `${log}.failed-${id.replace(/[^\w.-]+/g, '_')}` : null
}

function obtain(id, attempt) {
  const marker = failedMarker(id)
  if (marker && fs.existsSync(marker)) return { ok: false, why: fs.readFileSync(marker, 'utf8') }
  const r = attempt()
  if (!r.ok && marker) fs.writeFileSync(marker, `${r.why}\n${tail(r.output || '')}`)
  return r
}

function record(entry) {
  const log = process.env[LOG_ENV]
  if (!log) return
  try {
    fs.appendFileSync(log, `${JSON.stringify({ ...entry, pid: process.pid })}\n`)
  } catch {}
}

function testFile() {
  try {
    const p = expect.getState().testPath
    return p ? path.relative(ROOT, p) : undefined
  } catch {
    return undefined
  }
}

/** Lines in a frame of '!' that stands out in jest's output (open on the right: lines vary). */
function box(lines) {
  const bar = '!'.repeat(Math.min(90, Math.max(...lines.map((l) => l.length)) + 3))
  return [bar, ...lines.map((l) => `!! ${l}`), bar].join('\n')
}

/**
 * A gate over one or more requirements: `test`/`it` and `describe` run the tests when all are
 * there, skip them loudly when one is missing, and fail them when CI is set and one is missing.
 */
class Gate {
  constructor(requirements) {
    this.requirements = requirements
    this.missing = requirements.filter((r) => !r.available)
    this.available = this.missing.length === 0
    this._announced = false
  }

  /** What is missing, why, and how to get it; empty when everything is there. */
  get message() {
    return this.missing
      .map((r) => `missing ${r.label}: ${r.reason}\n  get it: ${r.hint}`)
      .join('\n')
  }

  _announce(what) {
    if (this._announced) return
    this._announced = true
    const file = testFile()
    for (const r of this.missing) {
      record({ event: isCI() ? 'missing' : 'skipped', requirement: r.label, reason: r.reason, hint: r.hint, file, what })
    }
    if (isCI()) return // the failing test says it all
    const lines = [
      `SKIPPED${file ? ` in ${file}` : ''}: ${what}`,
      'because a test requirement is missing:',
      ...this.missing.flatMap((r) => [`missing ${r.label}`, ...r.reason.split('\n').map((l) => `  ${l}`), `  get it: ${r.hint}`]),
      'With CI set this is a test failure, not a skip.',
    ]
    console.warn(box(lines))
  }

  _failure() {
    const err = new Error(`CI is set, so this test's requirements are required:\n${this.message}`)
    err.stack = `Error: ${err.message}` // where the gate threw says nothing: no code frame
    return err
  }

  test(name, fn, timeout) {
    if (this.available) return test(name, fn, timeout)
    this._announce(`test "${name}"`)
    if (isCI()) {
      const err = this._failure()
      return test(name, () => {
        throw err
      })
    }
    return test.skip(name, fn, timeout)
  }

  it(name, fn, timeout) {
    return this.test(name, fn, timeout)
  }

  describe(name, fn) {
    if (this.available) return describe(name, fn)
    this._announce(`describe "${name}"`)
    if (isCI()) {
      const err = this._failure()
      return describe(name, () => {
        test(`requires ${this.missing.map((r) => r.label).join(', ')}`, () => {
          throw err
        })
      })
    }
    return describe.skip(name, fn)
  }
}

/**
 * A Debian package. `binary` is an absolute path or a name looked up in PATH; without it the
 * package counts as present when dpkg says it is installed. The gate's `path` is the binary.
 */
function debianPackage({ name, binary } = {}) {
  if (!name) throw new TypeError('debianPackage: name is required')
  const label = `Debian package ${name}${binary ? ` (${binary})` : ''}`
  const find = () => {
    if (binary) return which(binary)
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' })
    return r.status === 0 && r.stdout.includes('install ok installed') ? name : null
  }
  // A package that another process is installing may have its binary unpacked before dpkg
  // has configured it: let that install finish before looking.
  if (fs.existsSync(APT_LOCK)) withLock(APT_LOCK, () => {})
  let found = find()
  let reason = `${binary || name} is not installed`
  let installed = false
  if (!found) {
    if (noInstall()) reason += '; installing is turned off (SAMSA_TEST_NO_INSTALL)'
    else if (process.getuid?.() !== 0) reason += '; not installing it: not running as root'
    else if (!which('apt-get')) reason += '; not installing it: no apt-get on this machine'
    else {
      const r = obtain(`apt-${name}`, () => {
        // Another worker may have installed it while this one waited for the lock.
        if (find()) return { ok: true }
        return aptInstall([name])
      })
      found = find()
      installed = r.ok && !!found
      if (!found) reason += `; apt-get install failed: ${r.why}${r.output ? `\n${tail(r.output)}` : ''}`
    }
  }
  if (installed) record({ event: 'installed', requirement: label, how: 'apt-get', file: testFile() })
  const hint = `apt-get install ${name} (as root; npm test does it itself when run as root)`
  return requirement({ label, available: !!found, reason: found ? '' : reason, hint, path: found && binary ? found : undefined })
}

/**
 * A Python venv of our own (under node_modules/.cache) with pinned `packages` from PyPI,
 * e.g. ['confluent-kafka==2.16.1']; `imports` are checked after installing. The gate's
 * `python` is the venv's interpreter and `bin(name)` a script in it.
 */
function pythonVenv({ name, packages, imports = [] } = {}) {
  if (!name || !Array.isArray(packages) || packages.length === 0) {
    throw new TypeError('pythonVenv: name and packages are required')
  }
  const spec = JSON.stringify({ packages, imports })
  const hash = crypto.createHash('sha256').update(spec).digest('hex').slice(0, 10)
  const dir = path.join(CACHE, `venv-${name.replace(/[^\w.-]+/g, '_')}-${hash}`)
  const python = path.join(dir, 'bin', 'python')
  const done = path.join(dir, '.samsa-complete')
  const present = () => isExecutable(python) && fs.existsSync(done)
  const label = `Python venv ${name} (${packages.join(' ')})`
  let reason = `no venv with ${packages.join(' ')} at ${path.relative(ROOT, dir)}`
  let available = present()
  if (!available) {
    if (noInstall()) reason += '; installing is turned off (SAMSA_TEST_NO_INSTALL)'
    else {
      const r = obtain(`venv-${path.basename(dir)}`, () =>
        withLock(`${dir}.lock`, () => (present() ? { ok: true } : makeVenv(dir, packages, imports, done))),
      )
      available = present()
      if (available && r.ok) record({ event: 'installed', requirement: label, how: 'python -m venv + pip', file: testFile() })
      if (!available) reason += `; ${r.why}${r.output ? `\n${tail(r.output)}` : ''}`
    }
  }
  const hint = `python3 -m venv ${path.relative(ROOT, dir)} && ${path.relative(ROOT, dir)}/bin/pip install ${packages.join(' ')} (needs python3 with venv, Debian's python3-venv, and PyPI)`
  return requirement({ label, available, reason: available ? '' : reason, hint, python: available ? python : undefined, dir, bin: (n) => path.join(dir, 'bin', n) })
}

function makeVenv(dir, packages, imports, done) {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  let base = which('python3')
  let r = base ? run(base, ['-m', 'venv', dir]) : { ok: false, why: 'no python3 in PATH', output: '' }
  // Debian's python3 makes venvs only with python3-venv installed.
  if (!r.ok && canApt()) {
    const a = aptInstall(['python3', 'python3-venv'])
    if (!a.ok) return a
    fs.rmSync(dir, { recursive: true, force: true })
    base = '/usr/bin/python3'
    r = run(base, ['-m', 'venv', dir])
  }
  if (!r.ok) return r
  const py = path.join(dir, 'bin', 'python')
  r = run(py, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...packages])
  if (!r.ok) return r
  for (const m of imports) {
    r = run(py, ['-c', `import ${m}`])
    if (!r.ok) return r
  }
  fs.writeFileSync(done, `${new Date().toISOString()} ${packages.join(' ')}\n`)
  return { ok: true }
}

function requirement(fields) {
  const gate = new Gate([fields])
  return Object.assign(gate, fields, { available: gate.available })
}

/** One gate over several requirements: `requires.all(kcat, gcc).test(...)`. */
function all(...requirements) {
  return new Gate(requirements.flatMap((r) => r.requirements))
}

/** Reads the requirement log: [{ event: 'skipped' | 'missing' | 'installed', requirement, ... }]. */
function readLog(file = process.env[LOG_ENV]) {
  if (!file || !fs.existsSync(file)) return []
  const seen = new Set()
  const out = []
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue
    let e
    try {
      e = JSON.parse(line)
    } catch {
      continue
    }
    const key = `${e.event}\0${e.requirement}\0${e.file}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(e)
  }
  return out
}

/** The lines scripts/test.js and globalTeardown print at the end of a run. */
function summaryLines(entries) {
  const lines = []
  for (const e of entries) {
    const where = e.file ? ` for ${e.file}` : ''
    if (e.event === 'installed') lines.push(`installed ${e.requirement}${where} (${e.how})`)
    else if (e.event === 'skipped') lines.push(`SKIPPED${where}: missing ${e.requirement}; get it: ${e.hint}`)
    else if (e.event === 'missing') lines.push(`FAILED${where}: missing ${e.requirement} (required: CI is set); get it: ${e.hint}`)
  }
  return lines
}

module.exports = { debianPackage, pythonVenv, all, isCI, readLog, summaryLines, box, LOG_ENV }
