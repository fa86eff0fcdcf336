#!/usr/bin/env node
// samsa's `install` script (and `npm run build`): makes sure the committed loader
// (binding.js) finds a native addon that loads here. It needs nothing but Node (and, to
// build, a Rust toolchain): a user's install has none of our devDependencies.
//
// - In a checkout (this package is not inside a node_modules folder): always build from
//   source with cargo into target/ (or $CARGO_TARGET_DIR), kept for incremental builds.
//   The repository's package.json declares no platform packages, so a checkout never has
//   a prebuilt addon to pick up, stale or foreign.
// - Installed as a dependency: when the platform package (samsa-linux-x64-gnu, declared in
//   the published package.json's optionalDependencies by scripts/pack-release.js) is
//   installed, has this version and its addon loads in a child process, use it and build
//   nothing. Otherwise (no package for this platform, or it fails to load, e.g. on a
//   glibc older than it was built for) build from source into a target directory that
//   is deleted afterwards, so only the `.node` stays; a CARGO_TARGET_DIR the user set is
//   used and left alone. `npm install --build-from-source` builds even when a prebuilt loads.
//
// One line says which path was taken.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const MIN_RUST = '1.89'

// Thrown rather than exiting at once, so that `finally` blocks (removing a temporary
// target directory) still run.
class Failure extends Error {}
function fail(message) {
  throw new Failure(message)
}

// The platform suffix the napi-rs loader uses for this machine (see binding.js): the
// addon's file name is `samsa.<suffix>.node`, its package `samsa-<suffix>`.
function targetSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    const glibc = report?.header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

// A checkout is a copy of the package that does not live inside a node_modules folder.
// npm, pnpm (node_modules/.pnpm/...) and yarn (node_modules/, or .yarn/unplugged/.../
// node_modules/ under PnP) all install dependencies under one; a git clone, an unpacked
// source tarball and an `npm link`ed or `file:` checkout (npm runs the script in the
// link's real path) do not. The real path is what counts.
function isCheckout() {
  let real = root
  try {
    real = fs.realpathSync(root)
  } catch {}
  return !real.split(path.sep).includes('node_modules')
}

const truthy = (v) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'

/**
 * Whether the platform package's prebuilt addon is installed, matches this version and
 * loads. Loading happens in a child process so that an addon that crashes while loading
 * cannot take this script down with it. Returns { ok, why, name } (`why`: why not).
 */
function checkPrebuilt(suffix) {
  const name = `${pkg.name}-${suffix}`
  let manifest
  try {
    manifest = require.resolve(`${name}/package.json`, { paths: [root] })
  } catch {
    return { ok: false, name, why: `no prebuilt addon for ${suffix} is installed (${name})` }
  }
  const version = JSON.parse(fs.readFileSync(manifest, 'utf8')).version
  if (version !== pkg.version) {
    return { ok: false, name, why: `the installed ${name}@${version} does not match ${pkg.name}@${pkg.version}` }
  }
  const probe = `
    try {
      const m = require(require.resolve(${JSON.stringify(name)}, { paths: [${JSON.stringify(root)}] }))
      if (typeof m.openBroker !== 'function') throw new Error('it is not samsa\\'s addon (no openBroker export)')
    } catch (e) {
      process.stderr.write(String(e && e.message).split('\\n')[0])
      process.exit(1)
    }`
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 60000 })
  if (r.status === 0) return { ok: true, name: `${name}@${version}` }
  const reason = r.error ? r.error.message : r.signal ? `crashed with ${r.signal}` : r.stderr.trim() || `exit code ${r.status}`
  return { ok: false, name, why: `the prebuilt addon ${name}@${version} does not load here (${reason})` }
}

function build({ checkout, why }) {
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
  if (cargo.error || cargo.status !== 0) {
    fail(
      `${why ? `${why}, and building` : 'building'} the native addon from source needs a Rust toolchain ` +
        `(cargo ${MIN_RUST} or newer) and a C compiler on PATH: see https://rustup.rs, then run npm install again`
    )
  }
  const userTargetDir = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : null
  // A dependency's build directory is its own and goes away after the build (also when it
  // fails); a checkout's, and any the user chose, stays for the next incremental build.
  const targetDir = userTargetDir || path.join(root, 'target')
  const temporary = !checkout && !userTargetDir
  const version = cargo.stdout.trim().split(' ').slice(0, 2).join(' ')
  console.log(
    checkout
      ? `samsa: building the native addon from source with ${version} (checkout: release build in ${path.relative(root, targetDir) || '.'}/, incremental)`
      : `samsa: ${why}; building it from source with ${version} (a cold release build, a minute or more)`
  )
  try {
    const args = ['build', '--release', '--lib', '--locked', '--features', 'node']
    // As a dependency, cargo's progress lines would only fill npm's log; errors still show.
    if (!checkout) args.push('--quiet')
    const r = spawnSync('cargo', args, { cwd: root, stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: targetDir } })
    if (r.error || r.status !== 0) fail('cargo build failed (see the output above)')

    const libName = { darwin: 'libsamsa.dylib', win32: 'samsa.dll' }[process.platform] || 'libsamsa.so'
    const built = path.join(targetDir, 'release', libName)
    if (!fs.existsSync(built)) fail(`cargo finished but ${built} is missing`)
    const dest = path.join(root, `samsa.${targetSuffix()}.node`)
    // Copy to a temporary name and rename, so a process that has the old addon loaded keeps
    // its mapping and never sees a half-written file.
    const tmp = `${dest}.${process.pid}.tmp`
    fs.copyFileSync(built, tmp)
    fs.renameSync(tmp, dest)
  } finally {
    if (temporary) fs.rmSync(targetDir, { recursive: true, force: true })
  }
}

function main() {
  const checkout = isCheckout()
  if (checkout) return build({ checkout })
  const suffix = targetSuffix()
  const prebuilt = checkPrebuilt(suffix)
  if (prebuilt.ok && !truthy(process.env.npm_config_build_from_source)) {
    console.log(`samsa: using the prebuilt addon ${prebuilt.name} (no build needed)`)
    return
  }
  build({ checkout, why: prebuilt.ok ? `--build-from-source given, so the prebuilt ${prebuilt.name} is not used` : prebuilt.why })
}

try {
  main()
} catch (e) {
  if (!(e instanceof Failure)) throw e
  console.error(`samsa: ${e.message}`)
  process.exitCode = 1
}
