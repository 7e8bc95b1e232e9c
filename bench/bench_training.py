#!/usr/bin/python3
"""Training throughput of PyTorch on the same job as bench_training: torchvision's MobileNetV2
(first convolution for C input channels), Adam (lr 1e-4), cross-entropy, random images, the same
batch, warm-up and timed steps, every core.

  bench_training.py [--classes N] [--channels C] [--size S] [--batch B] [--width W]
                    [--warmup K] [--iters I]
"""
import argparse
import os
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(1)
    model = torchvision.models.mobilenet_v2(num_classes=a.classes, width_mult=a.width)
    first = model.features[0][0]
    model.features[0][0] = torch.nn.Conv2d(a.channels, first.out_channels, 3, 2, 1, bias=False)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(a.batch, a.channels, a.size, a.size, generator=g)
    y = torch.arange(a.batch) % a.classes

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    best = 0.0
    start = time.perf_counter()
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        best = max(best, a.batch / (time.perf_counter() - t0))
    seconds = time.perf_counter() - start
    print(f"PyTorch: {a.batch * a.iters / seconds:.2f} images/s (best step {best:.2f}; batch "
          f"{a.batch}, {a.iters} steps, PyTorch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
