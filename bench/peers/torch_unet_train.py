#!/usr/bin/python3
"""
Peer measurement: PyTorch train step of the same U-Net as src/graphBuilder/unet.ts, on the CPU or
on a CUDA GPU (--device cuda).

Run with Debian's PyTorch (apt-get install python3-torch -> /usr/bin/python3), e.g.
  /usr/bin/python3 bench/peers/torch_unet_train.py --base 16 --size 128 --batch 8 --repeats 10
On a GPU (scripts/gpu/gpu-check.sh runs this for the paper U-Net):
  python3 bench/peers/torch_unet_train.py --device cuda --base 64 --size 224 --batch 32 --repeats 10
  With --device cuda: torch.backends.cudnn.benchmark = True (cuDNN picks the fastest algorithms in the
  warm-up steps), PyTorch's default TF32 policy (convolutions may use TF32, matmuls not; onnxruntime's
  CUDA provider also uses TF32 by default), and torch.cuda.synchronize() around every timed step.

Model (mirrors unet.ts / layers.ts with norm 'none'):
  depth 4 encoder of double convs (3x3, padding 1, bias, ReLU) + 2x2 max-pool, a bottleneck double
  conv, a decoder of 2x2 stride-2 ConvTranspose (bias) up-sampling, concat [skip, up] on channels,
  a double conv per level, and a final 1x1 conv to 1 logit. He-normal weights, zero biases.
  --dropout P (default 0: off) adds Dropout(P) where the training graphs have it with the default
  config: after the bottleneck and after every decoder level's double conv.
Loss (--loss, per image, mean over the batch; p = sigmoid(logits), a2 = sum(p^2), b2 = sum(t^2),
  d = sum(p*t), smoothing 1, as src/graphBuilder/losses.ts):
  dice (default): smoothed Dice with squared denominator, 1 - (2d + 1)/(a2 + b2 + 1);
  polydice1: PolyDice-1 with eps_1 = 0, 1 - s + s/2 * acos(clip((d + 1)/(ab + 1)))^2,
    s = (2ab + 1)/(a2 + b2 + 1), a = sqrt(a2 + 1e-12), b = sqrt(b2 + 1e-12), clip to [-1, 1] +- 1e-6.
Configuration (--config-only prints just this; every result carries it as 'config'): torch version,
the BLAS shared libraries mapped into this process (/proc/self/maps, resolved) and their kind
('reference' = Debian's netlib libblas3, which a machine set up by `npm run setup` selects unless
libopenblas0 is installed: scripts/install-peers.sh), oneDNN (mkldnn), intra- and inter-op threads.
Optimizer: Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8.
Timed: the whole train step (zero_grad, forward, loss, backward, optimizer.step); --warmup steps (2),
then median / p10 / p90 over --repeats steps. The batch stays on the device (onnxruntime-node instead
copies parameters, Adam moments and the batch in and out on every step). Prints one line of JSON.
peak_rss_mib: the process's peak resident memory (getrusage ru_maxrss, so the torch import included).
forward_flops counts conv / conv-transpose multiply-adds x2 (bias adds, ReLU, pooling excluded);
gflops_per_s = 3 * forward_flops / median step time (forward + ~2x for backward).
"""
import argparse
import json
import os
import re
import resource
import sys
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=True), nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    def __init__(self, depth: int = 4, base: int = 16, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        self.dropout = dropout
        width = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for i in range(depth):
            self.down.append(DoubleConv(c, width[i]))
            c = width[i]
        self.bottleneck = DoubleConv(c, width[depth])
        self.upconv = nn.ModuleList()
        self.updc = nn.ModuleList()
        for i in reversed(range(depth)):
            self.upconv.append(nn.ConvTranspose2d(width[i + 1], width[i], 2, stride=2, bias=True))
            self.updc.append(DoubleConv(2 * width[i], width[i]))
        self.head = nn.Conv2d(width[0], 1, 1, bias=True)
        # He-normal weights (std = sqrt(2 / fan_in)) and zero biases, as layers.ts.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.ConvTranspose2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]  # layers.ts: cin * 4
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2, 2)
        x = self.drop(self.bottleneck(x))
        for up, block, skip in zip(self.upconv, self.updc, reversed(skips)):
            x = self.drop(block(torch.cat([skip, up(x)], dim=1)))
        return self.head(x)

    def drop(self, x):
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x


def seg_loss(kind: str, logits, target, smooth: float = 1.0, norm_eps: float = 1e-12, cos_clip: float = 1e-6):
    p = torch.sigmoid(logits)
    dims = tuple(range(1, p.dim()))
    a2 = (p * p).sum(dims)
    b2 = (target * target).sum(dims)
    d = (p * target).sum(dims)
    if kind == 'dice':
        return (1 - (2 * d + smooth) / (a2 + b2 + smooth)).mean()
    ab = torch.sqrt(a2 + norm_eps) * torch.sqrt(b2 + norm_eps)
    s = (2 * ab + smooth) / (a2 + b2 + smooth)
    theta = torch.acos(torch.clamp((d + smooth) / (ab + smooth), -1 + cos_clip, 1 - cos_clip))
    return (1 - s + s * 0.5 * theta * theta).mean()  # alpha_1 + eps_1 = 1/2 + 0


def forward_flops(depth: int, base: int, in_channels: int, size: int, batch: int) -> int:
    """2 x multiply-adds of every Conv / ConvTranspose in the forward pass."""
    macs = 0
    conv = lambda cin, cout, k, hw: cin * cout * k * k * hw * hw
    width = [base * 2 ** i for i in range(depth + 1)]
    c, hw = in_channels, size
    for i in range(depth):
        macs += conv(c, width[i], 3, hw) + conv(width[i], width[i], 3, hw)
        c, hw = width[i], hw // 2
    macs += conv(c, width[depth], 3, hw) + conv(width[depth], width[depth], 3, hw)
    for i in reversed(range(depth)):
        macs += width[i + 1] * width[i] * 4 * hw * hw  # ConvTranspose 2x2 s2: each input pixel x cin x cout x 4
        hw *= 2
        macs += conv(2 * width[i], width[i], 3, hw) + conv(width[i], width[i], 3, hw)
    macs += conv(width[0], 1, 1, hw)
    return 2 * macs * batch


def loaded_blas():
    """Shared libraries of this process that implement BLAS (resolved paths), read from /proc/self/maps."""
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ''
                name = os.path.basename(path)
                if re.search(r'(blas|mkl_rt|mkl_core|libblis|libflexiblas|accelerate)', name, re.I):
                    libs.add(os.path.realpath(path))
    except OSError:
        return None
    return sorted(libs)


def blas_kind(libs):
    """'openblas', 'mkl', 'blis', 'reference' (Debian's netlib libblas3) or 'unknown'."""
    if libs is None:
        return 'unknown'
    joined = ' '.join(libs).lower()
    for kind in ('openblas', 'mkl', 'blis', 'flexiblas'):
        if kind in joined:
            return kind
    if any(re.search(r'/blas/libblas\.so', p) or p.endswith('libblas.so.3') for p in libs):
        return 'reference'
    return 'unknown' if libs else 'none loaded'


def peer_config(device: str):
    """What this process runs on: torch, BLAS library loaded (after a matmul forced it in), oneDNN, threads."""
    a = torch.rand(64, 64)
    (a @ a).sum().item()  # torch loads its BLAS lazily on some builds
    libs = loaded_blas()
    return {
        'torch': torch.__version__,
        'python': sys.executable,
        'device': device,
        'blas_libraries': libs,
        'blas': blas_kind(libs),
        'mkl': torch.backends.mkl.is_available(),
        'mkldnn': torch.backends.mkldnn.is_available(),
        'threads': torch.get_num_threads(),
        'interop_threads': torch.get_num_interop_threads(),
        'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
        'cpu_capability': torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, 'cpu') and hasattr(torch.backends.cpu, 'get_cpu_capability') else None,
    }


def percentile(xs, q):
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--base', type=int, default=16)
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--in-channels', type=int, default=3)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--loss', choices=['dice', 'polydice1'], default='dice')
    ap.add_argument('--dropout', type=float, default=0.0)
    ap.add_argument('--config-only', action='store_true', help='print the peer configuration (BLAS, oneDNN, threads) and exit')
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    if a.config_only:
        print(json.dumps(peer_config(a.device)))
        return
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    if a.device == 'cuda':
        if not torch.cuda.is_available():
            raise SystemExit('torch_unet_train.py: --device cuda but torch.cuda.is_available() is False')
        torch.backends.cudnn.benchmark = True
    sync = torch.cuda.synchronize if a.device == 'cuda' else (lambda: None)
    model = UNet(a.depth, a.base, a.in_channels, a.dropout).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    x = torch.rand(a.batch, a.in_channels, a.size, a.size).to(device)
    t = (torch.rand(a.batch, 1, a.size, a.size) < 0.5).float().to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = seg_loss(a.loss, model(x), t)
        loss.backward()
        opt.step()
        return loss.item()  # waits for the step to finish on a GPU

    for _ in range(a.warmup):
        step()
    times, losses = [], []
    for _ in range(a.repeats):
        sync()
        t0 = time.perf_counter()
        losses.append(step())
        sync()
        times.append((time.perf_counter() - t0) * 1e3)

    med = statistics.median(times)
    flops = forward_flops(a.depth, a.base, a.in_channels, a.size, a.batch)
    print(json.dumps({
        'peer': 'pytorch',
        'version': torch.__version__,
        'device': a.device,
        'gpu': torch.cuda.get_device_name(0) if a.device == 'cuda' else None,
        'cudnn_benchmark': a.device == 'cuda',
        'tf32_conv': torch.backends.cudnn.allow_tf32 if a.device == 'cuda' else None,
        'tf32_matmul': torch.backends.cuda.matmul.allow_tf32 if a.device == 'cuda' else None,
        'peak_memory_mib': round(torch.cuda.max_memory_allocated() / 2**20) if a.device == 'cuda' else None,
        'threads': torch.get_num_threads(),
        'base': a.base,
        'size': a.size,
        'batch': a.batch,
        'loss': a.loss,
        'dropout': a.dropout,
        'warmup': a.warmup,
        'ms_median': round(med, 2),
        'ms_p10': round(percentile(times, 0.1), 2),
        'ms_p90': round(percentile(times, 0.9), 2),
        'images_per_s': round(a.batch * 1e3 / med, 3),
        'params': sum(p.numel() for p in model.parameters()),
        'forward_flops': flops,
        'gflops_per_s': round(3 * flops / (med * 1e-3) / 1e9, 2),
        'repeats': a.repeats,
        'last_loss': round(losses[-1], 6),
        'peak_rss_mib': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        'config': peer_config(a.device),
    }))


if __name__ == '__main__':
    main()
