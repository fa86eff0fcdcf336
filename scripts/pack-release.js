#!/usr/bin/env node
// Packs what a release publishes, as tarballs (`npm pack`), following napi-rs's convention:
//
//   samsa-linux-x64-gnu-<version>.tgz  the platform package: only the prebuilt addon, with
//                                      its os/cpu/libc fields (npm/linux-x64-gnu/, made by
//                                      `napi create-npm-dirs`)
//   samsa-<version>.tgz                the main package: the JS, the loader, and the Rust
//                                      sources for the fallback build; its package.json
//                                      gains `optionalDependencies` on the platform
//                                      packages (`napi pre-publish`)
//
// The repository's own package.json never gets those optionalDependencies: `napi
// pre-publish --skip-optional-publish` runs on a staged copy of the packed package, so a
// checkout keeps building from source and never resolves an unpublished name.
//
//   node scripts/pack-release.js [--out DIR] [--no-build]
//
// --out DIR    where the tarballs go (default: release/)
// --no-build   pack the addon already built in the checkout instead of building it first
//
// Publishing is then `npm publish <platform tarball>` for each platform, then
// `npm publish <main tarball>`. The addon is built on this machine: its glibc floor (printed
// below) is the oldest glibc the prebuilt runs on.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const args = process.argv.slice(2)

// Thrown, not exited on, so that the staging directory is removed on failure too.
class Failure extends Error {}
function fail(message) {
  throw new Failure(message)
}

function option(name) {
  const i = args.indexOf(name)
  if (i < 0) return undefined
  if (i + 1 >= args.length) fail(`${name} needs a value`)
  return args[i + 1]
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  if (r.error || r.status !== 0) {
    fail(`${cmd} ${argv.join(' ')} failed${r.error ? `: ${r.error.message}` : ` (exit code ${r.status})`}\n${r.stdout || ''}${r.stderr || ''}`)
  }
  return r.stdout
}

/** `npm pack` of `dir` into `dest`; returns the tarball's path. */
function npmPack(dir, dest) {
  const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir }))
  return path.join(dest, out[0].filename)
}

/** The newest GLIBC_x.y symbol version the addon needs, when objdump is there to tell. */
function glibcFloor(file) {
  const r = spawnSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.error || r.status !== 0) return null
  const versions = [...new Set(r.stdout.match(/GLIBC_[0-9.]+/g) || [])].map((v) => v.slice(6))
  versions.sort((a, b) => {
    const x = a.split('.').map(Number)
    const y = b.split('.').map(Number)
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0)
    return 0
  })
  return versions.length ? versions[versions.length - 1] : null
}

function main() {
  const out = path.resolve(option('--out') || path.join(ROOT, 'release'))
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const binaryName = pkg.napi.binaryName
  const targets = pkg.napi.targets || []
  if (targets.length === 0) fail('package.json has no napi.targets')

  // The loader refuses (under NAPI_RS_ENFORCE_VERSION_CHECK) a platform package whose version
  // differs from the one it was generated for: it must be this version.
  const loader = fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8')
  if (!loader.includes(`expected ${pkg.version} but got`)) {
    fail(`binding.js was generated for another version than ${pkg.version}: run \`npm run build:loader\` first`)
  }

  if (!args.includes('--no-build')) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-native.js')], { cwd: ROOT, stdio: 'inherit' })
    if (r.status !== 0) fail('building the addon failed')
  }

  // Only the platform this machine builds for can be packed here; the layout (npm/<suffix>/,
  // napi.targets) takes more platforms when CI builds them.
  const platforms = fs.readdirSync(path.join(ROOT, 'npm')).filter((d) => fs.existsSync(path.join(ROOT, 'npm', d, 'package.json')))
  for (const suffix of platforms) {
    if (!fs.existsSync(path.join(ROOT, `${binaryName}.${suffix}.node`))) {
      fail(`${binaryName}.${suffix}.node is missing: build it on that platform (npm run build) before packing`)
    }
  }

  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-release-'))
  try {
    // The main package exactly as `npm pack` sees it ("files" in package.json), unpacked.
    const rootTarball = npmPack(ROOT, stage)
    run('tar', ['-xzf', rootTarball, '-C', stage])
    fs.rmSync(rootTarball)
    const staged = path.join(stage, 'package')
    // The platform packages beside it, each with its addon (what `napi artifacts` does).
    for (const suffix of platforms) {
      const dir = path.join(staged, 'npm', suffix)
      fs.mkdirSync(dir, { recursive: true })
      for (const f of ['package.json', 'README.md']) {
        const src = path.join(ROOT, 'npm', suffix, f)
        if (fs.existsSync(src)) fs.copyFileSync(src, path.join(dir, f))
      }
      fs.copyFileSync(path.join(ROOT, `${binaryName}.${suffix}.node`), path.join(dir, `${binaryName}.${suffix}.node`))
    }
    // Stamps the platform packages with this version, checks they are complete, and adds
    // their optionalDependencies to the staged main package.json; publishes nothing.
    const napi = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json', { paths: [ROOT] })), 'dist', 'cli.js')
    run(process.execPath, [napi, 'pre-publish', '--skip-optional-publish', '--no-gh-release', '--npm-dir', 'npm'], { cwd: staged })

    const manifest = JSON.parse(fs.readFileSync(path.join(staged, 'package.json'), 'utf8'))
    const expected = Object.fromEntries(platforms.map((s) => [`${pkg.name}-${s}`, pkg.version]))
    if (JSON.stringify(manifest.optionalDependencies) !== JSON.stringify(expected)) {
      fail(`napi pre-publish wrote optionalDependencies ${JSON.stringify(manifest.optionalDependencies)}, expected ${JSON.stringify(expected)}`)
    }

    fs.mkdirSync(out, { recursive: true })
    const tarballs = []
    for (const suffix of platforms) {
      const dir = path.join(staged, 'npm', suffix)
      const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
      if (p.version !== pkg.version) fail(`${p.name} has version ${p.version}, expected ${pkg.version}`)
      const floor = glibcFloor(path.join(dir, `${binaryName}.${suffix}.node`))
      tarballs.push({ file: npmPack(dir, out), note: floor ? `glibc ${floor} or newer` : '' })
    }
    tarballs.push({ file: npmPack(staged, out), note: `optionalDependencies ${JSON.stringify(manifest.optionalDependencies)}` })
    for (const t of tarballs) {
      const kb = Math.round(fs.statSync(t.file).size / 1024)
      console.log(`pack-release: ${path.relative(process.cwd(), t.file) || t.file} (${kb} KiB${t.note ? `; ${t.note}` : ''})`)
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

try {
  main()
} catch (e) {
  if (!(e instanceof Failure)) throw e
  console.error(`pack-release: ${e.message}`)
  process.exitCode = 1
}
