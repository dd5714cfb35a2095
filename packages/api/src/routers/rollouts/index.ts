import { router } from '../../trpc.ts';
import { abortRollout } from './abort.ts';
import { getRollout } from './get.ts';
import { pauseRollout } from './pause.ts';
import { resumeRollout } from './resume.ts';

export const rolloutsRouter = router({
  get: getRollout,
  pause: pauseRollout,
  resume: resumeRollout,
  abort: abortRollout,
});
