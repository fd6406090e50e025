/**
 * The method (METHOD.md §3–4) as the trainer's ε schedule (training/epsSchedule.ts): after every M
 * epochs an MC-Dropout phase measures each training image's difficulty, the ε policy maps the
 * difficulties to each image's ε_1 for the epochs up to the next phase, and the phase's rows
 * (difficulty, the ε_1 used from then on, Dice of the MC mean) are appended to the fold's trajectory
 * files. Before the first phase every image gets the policy's unmeasured default. A fixed policy keeps
 * ε_1 fixed and the phases only record the trajectory. At the end, the shipped weights' difficulty of
 * every test image.
 *
 * Resuming is exact: phases the checkpoint does not cover are dropped from the trajectory (they run
 * again), and ε is read back from the last phase kept, as the uninterrupted run had it.
 */
import { deriveSeed, prng, shuffleInPlace } from '../common/prng.js';
import type { EpsScheduleFactory } from '../training/epsSchedule.js';
import { type EpsPolicy, mapDifficulties, unmeasuredEps, validateEpsPolicy } from './epsilon.js';
import { type McSettings, mcPhase } from './mcPhase.js';
import { type TrajectoryRow, appendTrajectory, readTrajectory, trimTrajectory } from './trajectory.js';

export interface AdaptiveOptions {
  /**
   * Study v2's shuffled-ε₁ control: each phase's ε₁ values are permuted across the measured images
   * (seeded by this seed and the phase), so training sees the same values with no link to difficulty.
   * The trajectory records the true difficulty and the ε₁ actually used.
   */
  shuffleSeed?: number;
}

/** MC-Dropout phases every `mc.every` epochs, ε_1 per image from `policy`, the trajectory in the fold's dir. */
export function mcEpsSchedule(mc: McSettings, policy: EpsPolicy, options: AdaptiveOptions = {}): EpsScheduleFactory {
  validateEpsPolicy(policy);
  const every = mc.every;
  if (!(Number.isInteger(every) && every >= 1)) throw new Error(`MC phases need every ≥ 1 epochs, got ${every}`);
  return ({ dir, samples, train, config, providers }) => {
    // ε by image from a phase's rows: the ε_1 recorded there, which is the ε_1 trained with.
    const epsFrom = (rows: readonly TrajectoryRow[]): ((index: number) => number) => {
      if (policy.kind === 'fixed') return () => policy.eps;
      const byIndex = new Map(rows.map((r) => [r.index, r.eps]));
      return (index) => byIndex.get(index) ?? unmeasuredEps(policy);
    };
    let epsOf = epsFrom([]);
    return {
      start(doneEpochs) {
        trimTrajectory(dir, (r) => r.epoch <= doneEpochs);
        const last = readTrajectory(dir).at(-1);
        if (last) epsOf = epsFrom(last.rows);
      },
      epsOf: (index) => epsOf(index),
      async afterEpoch(epoch, params) {
        if (epoch % every !== 0) return;
        const phase = epoch / every - 1;
        const measured = await mcPhase(config, params, samples, train, mc, providers);
        const eps = mapDifficulties(policy, new Map([...measured].map(([i, m]) => [i, m.difficulty])));
        if (options.shuffleSeed !== undefined) {
          const values = shuffleInPlace(
            [...eps.values()],
            prng(deriveSeed(options.shuffleSeed, `eps-shuffle:${phase}`)),
          );
          [...eps.keys()].forEach((index, k) => {
            eps.set(index, values[k]!);
          });
        }
        const rows = [...measured].map(([index, m]): TrajectoryRow => {
          const name = samples[index]!.name;
          const used = eps.get(index) ?? unmeasuredEps(policy);
          return { phase, epoch, index, name, difficulty: m.difficulty, eps: used, dice: m.dice };
        });
        appendTrajectory(dir, rows);
        epsOf = epsFrom(rows);
      },
      async testDifficulty(params, test) {
        const measured = await mcPhase(config, params, samples, test, mc, providers);
        return new Map([...measured].map(([index, m]) => [index, m.difficulty]));
      },
    };
  };
}
