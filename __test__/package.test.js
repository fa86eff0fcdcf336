'use strict'

// The source-build fallback of the install script (scripts/build-native.js): when no
// prebuilt addon is installed (no package for the platform) or it does not load, samsa is
// built from its sources with cargo, and only the `.node` stays in node_modules/samsa.
// The prebuilt path is in prebuilt.test.js.
//
// The last test is a real cold build: the main tarball of a release installed alone, with
// a target directory of its own (nothing shared with this checkout's target/). It costs a
// cold release build of samsa and its crates, as measured in docs/benchmarks.md ("Install
// size and build cost"): about 100 s on an idle 2-core machine, a peak of 1.05 GiB of
// memory for the compiler, 265 MB of target/ while it lasts; inside `npm test`, where it
// runs under nice beside the other test files, 110 s (190 s with other work on the
// machine), which makes it the longest test file; its timeout allows 20 minutes.
// The other tests run the script with a stand-in for cargo and take a second.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { tempDir, ROOT } = require('./helpers')
const { packRelease, cleanEnv, pathWithoutCargo, run, freshProject, sizeKiB, sendAndConsume, which, seconds, mib } = require('./install-helpers')

describe('the install script with a stand-in cargo', () => {
  // A copy of the install script where npm would put it (or, for a checkout, anywhere
  // else), and a `cargo` that records the target directory it was given and writes a
  // fake library there (or fails, when FAKE_CARGO_FAIL is set).
  function setup({ checkout = false } = {}) {
    const base = tempDir('samsa-script-')
    const pkgDir = checkout ? path.join(base, 'samsa') : path.join(base, 'app', 'node_modules', 'samsa')
    fs.mkdirSync(path.join(pkgDir, 'scripts'), { recursive: true })
    fs.copyFileSync(path.join(ROOT, 'scripts', 'build-native.js'), path.join(pkgDir, 'scripts', 'build-native.js'))
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkgDir, 'package.json'))
    const bin = path.join(base, 'bin')
    fs.mkdirSync(bin)
    fs.writeFileSync(
      path.join(bin, 'cargo'),
      [
        '#!/bin/sh',
        'if [ "$1" = "--version" ]; then echo "cargo 1.95.0 (stand-in)"; exit 0; fi',
        'echo "$CARGO_TARGET_DIR" > "$FAKE_CARGO_LOG"',
        'mkdir -p "$CARGO_TARGET_DIR/release"',
        'if [ -n "$FAKE_CARGO_FAIL" ]; then echo "error: could not compile" >&2; exit 101; fi',
        'printf fake > "$CARGO_TARGET_DIR/release/libsamsa.so"',
        '',
      ].join('\n'),
      { mode: 0o755 }
    )
    const log = path.join(base, 'cargo-target-dir')
    const install = (env = {}) =>
      spawnSync(process.execPath, [path.join(pkgDir, 'scripts', 'build-native.js')], {
        cwd: pkgDir,
        encoding: 'utf8',
        env: cleanEnv({ PATH: `${bin}${path.delimiter}${pathWithoutCargo()}`, FAKE_CARGO_LOG: log, ...env }),
      })
    const targetDirUsed = () => fs.readFileSync(log, 'utf8').trim()
    return { base, pkgDir, install, targetDirUsed }
  }

  test('as a dependency it builds in a target directory of its own and removes it, keeping only the .node', () => {
    const { pkgDir, install, targetDirUsed } = setup()
    const r = install()
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout.trim().split('\n')).toEqual([
      'samsa: no prebuilt addon for linux-x64-gnu is installed (samsa-linux-x64-gnu); building it from source with cargo 1.95.0 (a cold release build, a minute or more)',
    ])
    expect(targetDirUsed()).toBe(path.join(pkgDir, 'target'))
    expect(fs.readdirSync(pkgDir).sort()).toEqual(['package.json', 'samsa.linux-x64-gnu.node', 'scripts'])
  })

  test('as a dependency it removes its target directory when the build fails too', () => {
    const { pkgDir, install } = setup()
    const r = install({ FAKE_CARGO_FAIL: '1' })
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^samsa: cargo build failed \(see the output above\)$/m)
    expect(fs.readdirSync(pkgDir).sort()).toEqual(['package.json', 'scripts'])
  })

  test('a CARGO_TARGET_DIR the user set is used and left in place', () => {
    const { base, pkgDir, install, targetDirUsed } = setup()
    const mine = path.join(base, 'my-target')
    const r = install({ CARGO_TARGET_DIR: mine })
    expect(r.status).toBe(0)
    expect(targetDirUsed()).toBe(mine)
    expect(fs.existsSync(path.join(mine, 'release', 'libsamsa.so'))).toBe(true)
    expect(fs.existsSync(path.join(pkgDir, 'samsa.linux-x64-gnu.node'))).toBe(true)
  })

  test('a checkout always builds from source and keeps target/ for incremental builds', () => {
    const { pkgDir, install, targetDirUsed } = setup({ checkout: true })
    const r = install()
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe('samsa: building the native addon from source with cargo 1.95.0 (checkout: release build in target/, incremental)')
    expect(targetDirUsed()).toBe(path.join(pkgDir, 'target'))
    expect(fs.existsSync(path.join(pkgDir, 'target', 'release', 'libsamsa.so'))).toBe(true)
  })
})

test('the main tarball installed alone, cargo on PATH: a cold build from source; the addon works and no target/ remains', async () => {
  const release = await packRelease({ build: false })
  const { app, npmArgs } = freshProject()
  expect(which('cargo')).not.toBeNull()
  // --offline with an empty cache: the platform package listed in optionalDependencies
  // cannot be fetched (as on a platform without one), so npm skips it; nothing is asked
  // of a registry. `nice` keeps the build from starving the other test files.
  const nice = which('nice')
  const npmCmd = [...(nice ? [nice, '-n', '10'] : []), 'npm', 'install', ...npmArgs, '--offline', release.main]
  const installed = path.join(app, 'node_modules', 'samsa')
  let peakTargetKiB = 0
  const poll = setInterval(() => {
    try {
      peakTargetKiB = Math.max(peakTargetKiB, sizeKiB(path.join(installed, 'target')))
    } catch {}
  }, 5000)
  let r
  try {
    r = await run(npmCmd[0], npmCmd.slice(1), { cwd: app, env: cleanEnv(), timeoutMs: 19 * 60 * 1000 })
  } finally {
    clearInterval(poll)
  }
  if (r.code !== 0) throw new Error(`npm install failed (${r.code})\n${r.stdout}\n${r.stderr}`)
  expect(r.stdout).toMatch(/^samsa: no prebuilt addon for linux-x64-gnu is installed \(samsa-linux-x64-gnu\); building it from source with cargo [\d.]+ /m)

  expect(fs.existsSync(path.join(app, 'node_modules', 'samsa-linux-x64-gnu'))).toBe(false)
  expect(fs.readdirSync(installed).filter((f) => f.endsWith('.node'))).toEqual(['samsa.linux-x64-gnu.node'])
  expect(fs.existsSync(path.join(installed, 'target'))).toBe(false)
  // None of samsa's devDependencies came along.
  expect(fs.existsSync(path.join(app, 'node_modules', 'jest'))).toBe(false)
  expect(fs.existsSync(path.join(app, 'node_modules', 'kafkajs'))).toBe(false)

  // cargo is needed to install, not to run.
  const out = await sendAndConsume(app, { PATH: pathWithoutCargo() })
  expect(out.stderr).toBe('')
  expect(out.stdout).toMatch(/^sent to partition [0-3] offset 0$/m)
  expect(out.stdout).toMatch(/^consumed rider-42 \{"lat":1,"lng":2\} from partition [0-3] offset 0$/m)

  console.log(
    `source-build fallback: npm install took ${seconds(r.ms)} (cold cargo build${nice ? ', under nice' : ''}); ` +
      `node_modules/samsa ${mib(sizeKiB(installed))}; its temporary target/ peaked at ${mib(peakTargetKiB)} and was removed`
  )
}, 20 * 60 * 1000)
