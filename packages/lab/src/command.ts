// The commands the panel and `lab:down` print for this lab. `sudo` drops the
// environment, so when the lab runs with a prefix or management net other than
// the defaults the printed command carries them in sudo's VAR=value form;
// otherwise `sudo npm run lab:down` would remove someone else's default lab.

const LAB_ENV = ['TULA_LAB_PREFIX', 'TULA_LAB_NET'] as const;
const DEFAULTS: Record<(typeof LAB_ENV)[number], string> = { TULA_LAB_PREFIX: 'lab', TULA_LAB_NET: '200' };

/** `sudo [TULA_LAB_PREFIX=… TULA_LAB_NET=…] npm <args>`, with the lab settings that differ from the defaults. */
export function labSudoCommand(npmArgs: string, env: NodeJS.ProcessEnv = process.env): string {
  const settings = LAB_ENV.filter((k) => env[k] && env[k] !== DEFAULTS[k]).map((k) => `${k}=${env[k]}`);
  return ['sudo', ...settings, 'npm', npmArgs].join(' ');
}

/** The exact command that removes this process's lab. */
export function labDownCommand(env: NodeJS.ProcessEnv = process.env): string {
  return labSudoCommand('run lab:down', env);
}
