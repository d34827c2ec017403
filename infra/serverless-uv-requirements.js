'use strict';
// Serverless plugin: each function's zip gets the Python packages its own routes import, at
// uv.lock's versions, and bytecode compiled by Lambda's Python (3.12).
// - Before packaging: uv.lock's run-time pins are exported to .serverless/ (never the `local`
//   extra nor the dev group), and an interpreter of the runtime's version is found.
// - After serverless has zipped each function's own files (its handler and shared/), the
//   zip is finished by infra/lambda_package.py, run by that interpreter: it installs the
//   function's requirements (`custom.lambdaPackages` in serverless.yml: `base` for every
//   function plus the function's own list) with the pins as constraints, compiles
//   everything with unchecked-hash invalidation and rewrites the zip.
// - And serverless 3's schema is taught the python3.12 runtime.
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const CONSTRAINTS = path.join('.serverless', 'lambda-requirements.txt');

class LambdaPackages {
  constructor(serverless, cliOptions, { log }) {
    this.serverless = serverless;
    this.log = log;
    // Serverless 3's configuration schema lists runtimes only up to python3.11 and would warn
    // about serverless.yml's python3.12 on every command; Lambda and CloudFormation take it.
    const runtimes = serverless.configSchemaHandler?.schema?.definitions?.awsLambdaRuntime?.enum;
    if (runtimes && !runtimes.includes('python3.12')) runtimes.push('python3.12');
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.prepare(),
      'after:package:createDeploymentArtifacts': () => this.finishAll(),
      'before:deploy:function:packageFunction': () => this.prepare(),
      'after:deploy:function:packageFunction': () => this.finish(cliOptions.function),
    };
  }

  get serviceDir() {
    return this.serverless.serviceDir;
  }

  prepare() {
    fs.mkdirSync(path.join(this.serviceDir, '.serverless'), { recursive: true });
    this.run(this.uv(), [
      'export',
      '--frozen',
      '--no-default-groups', // the dev group, and any group added to the defaults later
      '--no-hashes', // constraints, not a list to install: the versions are pinned
      '--no-emit-project', // the project's own code goes in through the package patterns
      '--no-header',
      '--no-annotate',
      '--output-file',
      CONSTRAINTS,
    ]);
    this.python = this.lambdaPython();
    this.log.info(`Lambda packages: uv.lock's pins exported; bytecode by ${this.python}`);
  }

  uv() {
    return process.env.UV || 'uv';
  }

  // An interpreter of the runtime's version: LAMBDA_PYTHON, pythonX.Y on PATH, pyenv's
  // versions, or one uv knows. Each is asked for its version (a pyenv shim on PATH may
  // answer "command not found"); none found stops packaging, saying what to install.
  lambdaPython() {
    const version = this.serverless.service.provider.runtime.replace(/^python/, '');
    const pyenvRoot = process.env.PYENV_ROOT || path.join(os.homedir(), '.pyenv');
    let pyenv = [];
    try {
      pyenv = fs
        .readdirSync(path.join(pyenvRoot, 'versions'))
        .filter((name) => name.startsWith(`${version}.`))
        .sort()
        .reverse()
        .map((name) => path.join(pyenvRoot, 'versions', name, 'bin', `python${version}`));
    } catch (error) {
      // no pyenv on this machine
    }
    const candidates = [process.env.LAMBDA_PYTHON, `python${version}`, ...pyenv];
    try {
      candidates.push(this.run(this.uv(), ['python', 'find', '--no-project', version]).trim());
    } catch (error) {
      // uv knows none either
    }
    const check = `import sys; sys.exit(sys.version_info[:2] != (${version.replace('.', ', ')}))`;
    for (const candidate of candidates.filter(Boolean)) {
      try {
        execFileSync(candidate, ['-c', check], { stdio: 'ignore' });
        return candidate;
      } catch (error) {
        // not there, or another version
      }
    }
    throw new this.serverless.classes.Error(
      `Packaging needs Python ${version}, the Lambda runtime's, to compile bytecode, and found none ` +
        `(tried LAMBDA_PYTHON, python${version} on PATH, ${pyenvRoot}/versions/${version}.*, uv's). ` +
        `Install it (pyenv install ${version}, or apt-get install python${version}) or set LAMBDA_PYTHON to one.`,
      'LAMBDA_PYTHON_MISSING'
    );
  }

  requirementsOf(name) {
    const declared = this.serverless.service.custom?.lambdaPackages || {};
    const own = (declared.functions || {})[name];
    if (own === undefined) {
      throw new this.serverless.classes.Error(
        `custom.lambdaPackages.functions.${name} is missing: list the packages its routes import ([] for none)`,
        'LAMBDA_PACKAGES_MISSING'
      );
    }
    return [...(declared.base || []), ...own];
  }

  finishAll() {
    for (const name of this.serverless.service.getAllFunctions()) this.finish(name);
  }

  finish(name) {
    const artifact = this.serverless.service.getFunction(name).package?.artifact;
    if (!artifact) return;
    const zip = path.resolve(this.serviceDir, artifact);
    const requirements = this.requirementsOf(name);
    this.run(this.python, [
      path.join(this.serviceDir, 'infra', 'lambda_package.py'),
      '--artifact',
      zip,
      '--constraints',
      path.join(this.serviceDir, CONSTRAINTS),
      ...(this.serverless.service.custom?.lambdaPackages?.prune || []).flatMap((glob) => ['--prune', glob]),
      ...requirements,
    ]);
    const megabytes = (fs.statSync(zip).size / 1e6).toFixed(1);
    this.log.info(`Lambda packages: ${name}.zip, ${megabytes} MB (${requirements.join(', ')})`);
  }

  run(command, args) {
    try {
      return execFileSync(command, args, {
        cwd: this.serviceDir,
        env: { ...process.env, UV: this.uv() },
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      });
    } catch (error) {
      const reason =
        error.code === 'ENOENT'
          ? `${command} is not on PATH (./restoreclick installs uv; or set UV to its path)`
          : String(error.stderr || error.message).trim();
      throw new this.serverless.classes.Error(`${path.basename(command)} ${args[0]} failed: ${reason}`, 'PACKAGING_FAILED');
    }
  }
}

module.exports = LambdaPackages;
