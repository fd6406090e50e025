/**
 * GPU check phase `convgrad`: the conv weight-gradient formulations at the train U-Net's shapes on
 * this provider (src/bench/benchConvGrad.ts): which one a GPU rule in chooseWeightGrad should pick.
 */
import { benchConvGrad, convGradReport } from '../../../src/bench/benchConvGrad.js';
import type { Config } from '../config.js';
import { configFor, progress } from './shared.js';

export async function phaseConvGrad(cfg: Config) {
  const t = cfg.train;
  const c = configFor(t.preset, t.size, t.batch);
  const models = [{ name: `${t.preset} ${t.size}² b${t.batch}`, config: c }];
  const r = await benchConvGrad(models, cfg.convgrad.rounds, cfg.ep as 'cpu' | 'cuda');
  progress(`convgrad:\n${convGradReport(r)}`);
  return r;
}
