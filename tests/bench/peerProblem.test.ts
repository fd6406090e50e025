/**
 * The bench never quotes a ratio against a crippled or mismatched PyTorch peer: reference BLAS
 * (what `npm run setup` leaves without scripts/install-peers.sh), an unidentified BLAS, another
 * thread count, or a peer that did not say what it runs on.
 */
import { describe, expect, it } from 'vitest';
import { type PeerConfig, peerProblem } from '../../src/bench/benchTrain.js';

const openblas: PeerConfig = {
  torch: '1.13.0a0',
  python: '/usr/bin/python3',
  device: 'cpu',
  blas_libraries: [
    '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3',
    '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so',
  ],
  blas: 'openblas',
  mkl: false,
  mkldnn: true,
  threads: 2,
  interop_threads: 1,
  omp_num_threads: null,
};

describe('peerProblem', () => {
  it('accepts PyTorch on OpenBLAS with our thread count', () => {
    expect(peerProblem(openblas, 2)).toBeNull();
  });
  it('refuses the reference BLAS and says how to fix it', () => {
    const why = peerProblem(
      { ...openblas, blas: 'reference', blas_libraries: ['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0'] },
      2,
    );
    expect(why).toMatch(/reference BLAS/);
    expect(why).toMatch(/install-peers\.sh/);
  });
  it('refuses an unidentified BLAS, another thread count, and a missing configuration', () => {
    expect(peerProblem({ ...openblas, blas: 'unknown' }, 2)).toMatch(/could not be identified/);
    expect(peerProblem(openblas, 4)).toMatch(/2 threads, onnxruntime 4/);
    expect(peerProblem(undefined, 2)).toMatch(/configuration/);
  });
});
