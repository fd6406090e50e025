/**
 * Training on onnxruntime-node's WebGPU provider (Dawn over Vulkan). In CI the Vulkan device is
 * Mesa's lavapipe (software), installed by scripts/setup.sh from bookworm-backports (Mesa 25; the
 * 22.3 in bookworm does not work). The fused train step on WebGPU must follow the CPU's loss curve.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { buildTrainStepModel, paramLayout } from '../../src/graphBuilder/trainingModels.js';
import { toBatch } from '../../src/training/batches.js';
import {
  type DeviceState,
  type ExecutionProvider,
  STATE_OUTPUTS,
  createSession,
  initialState,
  toHost,
  trainStep,
  trainStepOnDevice,
} from '../../src/runtime/runtime.js';
import { syntheticSet } from '../../src/data/synthetic.js';

const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.json';

describe('WebGPU execution provider', () => {
  it.skipIf(!existsSync(LAVAPIPE) && !process.env.CI)(
    'trains the tiny U-Net with the same loss curve as the CPU (dropout off, 8 fused steps), also with the state kept in GPU memory',
    async () => {
      expect(existsSync(LAVAPIPE), `no Vulkan driver (${LAVAPIPE}); run scripts/setup.sh`).toBe(true);
      const c = presetConfig('tiny', { imageSize: 32, batch: 4 });
      const layout = paramLayout(c);
      const bytes = serialize(buildTrainStepModel(c, layout));
      const batch = toBatch(syntheticSet(4, 32, 3), [0, 0.5, -0.25, 1], 32);
      const curve = async (ep: ExecutionProvider) => {
        const session = await createSession(bytes, { providers: [ep] });
        let s = initialState(layout.values);
        const losses: number[] = [];
        for (let i = 0; i < 8; i++) {
          const r = await trainStep(session, s, batch, 3e-3, 0);
          losses.push(r.loss);
          s = r.state;
        }
        return losses;
      };
      // The trainer's way: parameters and Adam moments stay in GPU memory between steps, fetched once at the end.
      const onDevice = async () => {
        const session = await createSession(bytes, { providers: ['webgpu'], deviceOutputs: STATE_OUTPUTS });
        let s: DeviceState = initialState(layout.values);
        const losses: number[] = [];
        for (let i = 0; i < 8; i++) {
          const r = await trainStepOnDevice(session, s, batch, 3e-3, 0);
          expect(r.state.params).not.toBeInstanceOf(Float32Array); // really left on the device
          losses.push(r.loss);
          s = r.state;
        }
        return { losses, final: await toHost(s) };
      };
      const [cpu, gpu, device] = [await curve('cpu'), await curve('webgpu'), await onDevice()];
      // float32 reductions in another order: differences of a few 1e-6 grow slowly over steps.
      for (const other of [gpu, device.losses]) {
        other.forEach((l, i) => {
          expect(Math.abs(l - cpu[i]!) / cpu[i]!, `step ${i + 1}: cpu ${cpu[i]} webgpu ${l}`).toBeLessThan(1e-3);
        });
      }
      expect(device.losses).toEqual(gpu);
      expect(device.final.params.length).toBe(layout.values.length);
      expect(device.final.step).toBe(8);
      expect(cpu.at(-1)!).toBeLessThan(cpu[0]!);
    },
  );
});
