'use strict';
// Serverless plugin: prepares what serverless-python-requirements needs, just before it runs
// (it must be listed before that plugin, whose hooks on the same events then run after these):
// - the requirements file, exported from uv.lock each time. So every `serverless package` or
//   `deploy` ships exactly the locked versions of the project's run-time dependencies: never
//   the `local` extra (embedded PostgreSQL, OpenCV, NumPy, uvicorn) nor the dev group, and
//   never a stale or missing file, which that plugin would silently package as "no
//   requirements";
// - a Python that has pip, for its `<pythonBin> -m pip install`: a small virtual environment
//   made by uv. The project's own environment has no pip, and is first on PATH under
//   `uv run` or an activated venv, so a plain `python3` may have none;
// - and serverless 3's schema taught the python3.12 runtime.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

class UvLockRequirements {
  constructor(serverless, cliOptions, { log }) {
    this.serverless = serverless;
    this.log = log;
    // Serverless 3's configuration schema lists runtimes only up to python3.11 and would warn
    // about serverless.yml's python3.12 on every command; Lambda and CloudFormation take it.
    const runtimes = serverless.configSchemaHandler?.schema?.definitions?.awsLambdaRuntime?.enum;
    if (runtimes && !runtimes.includes('python3.12')) runtimes.push('python3.12');
    const prepare = () => this.prepare();
    this.hooks = {
      'before:package:createDeploymentArtifacts': prepare,
      'before:deploy:function:packageFunction': prepare,
      'before:requirements:install:install': prepare,
    };
  }

  prepare() {
    const serviceDir = this.serverless.serviceDir;
    const options = this.serverless.service.custom.pythonRequirements;
    // The file serverless-python-requirements reads: one name, kept in serverless.yml.
    const requirements = path.join(serviceDir, options.fileName);
    fs.mkdirSync(path.dirname(requirements), { recursive: true });
    this.uv(serviceDir, [
      'export',
      '--frozen',
      '--no-default-groups', // the dev group, and any group added to the defaults later
      '--no-hashes', // pip would then demand hashes for every file; versions are pinned
      '--no-emit-project', // the project's own code goes in through the package patterns
      '--no-header',
      '--no-annotate',
      '--output-file',
      requirements,
    ]);
    this.log.info(`Exported the Lambda requirements from uv.lock to ${options.fileName}`);

    // In .serverless/, next to the requirements: `serverless package` starts by removing it.
    const pipEnv = path.join(path.dirname(requirements), 'pip-env');
    this.uv(serviceDir, ['venv', '--seed', '--quiet', '--allow-existing', pipEnv]);
    // That plugin reads its options afresh each time, so this is what it runs.
    options.pythonBin = path.join(pipEnv, 'bin', 'python');
  }

  uv(cwd, args) {
    const uv = process.env.UV || 'uv';
    try {
      execFileSync(uv, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const reason =
        error.code === 'ENOENT'
          ? `${uv} is not on PATH (./restoreclick installs it; or set UV to its path)`
          : String(error.stderr || error.message).trim();
      throw new this.serverless.classes.Error(`uv ${args[0]} failed: ${reason}`, 'UV_FAILED');
    }
  }
}

module.exports = UvLockRequirements;
