/** The set of graphs shipped for one config, in a fixed order: what build-graphs writes and graphs/ snapshots. */
import type { Graph } from './graph.js';
import { type ModelConfig, buildInferenceModel, buildMcModel } from './models.js';
import {
  buildEvalModel,
  buildOptimizerModel,
  buildTrainStepModel,
  buildTrainingModel,
  paramLayout,
} from './trainingModels.js';

/** Training graphs exist for every norm but batch (see trainingModels.checkTrainable). */
export const hasTrainingGraphs = (c: ModelConfig): boolean => c.unet.norm !== 'batch';

export function shippedGraphs(c: ModelConfig, options: { training?: boolean } = {}): Graph[] {
  const graphs = [buildInferenceModel(c), buildMcModel(c)];
  if (options.training === false || !hasTrainingGraphs(c)) return graphs;
  const layout = paramLayout(c);
  return [
    ...graphs,
    buildTrainStepModel(c, layout),
    buildTrainingModel(c, layout),
    buildOptimizerModel(c, layout),
    buildEvalModel(c, layout),
  ];
}
