#!/usr/bin/python3
"""PyTorch's side of bench/run_inference_bench.sh: the same TorchScript file, batch and iterations
as bench_inference (csss), run the way PyTorch's documentation recommends for CPU inference.

    /usr/bin/python3 bench_inference.py MODEL.pt [--classes N] [--size S] [--batch B]
                                       [--warmup W] [--iters I] [--threads T]
    /usr/bin/python3 bench_inference.py --export MODEL.pt [--classes N]

The first form loads MODEL.pt, applies torch.jit.freeze and torch.jit.optimize_for_inference,
sets torch.set_num_threads (default: every core, as csss does) and prints
"PyTorch: <images/s> images/s (best batch <images/s>; ...)". The second writes torchvision's MobileNetV2 (random weights:
the speed does not depend on them) as TorchScript.
"""
import argparse
import os
import sys
import time

try:
    import torch
    import torchvision
except ImportError as e:
    print(f"cannot import PyTorch ({e}): install the Debian packages python3-torch "
          "python3-torchvision", file=sys.stderr)
    sys.exit(3)


def export(path, classes):
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=classes).eval()
    torch.jit.script(model).save(path)


def bench(args):
    torch.set_num_threads(args.threads)
    model = torch.jit.load(args.model, map_location="cpu").eval()
    model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
    torch.manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size)
    with torch.inference_mode():
        for _ in range(args.warmup):
            out = model(images)
        assert out.shape == (args.batch, args.classes), out.shape
        times = []
        for _ in range(args.iters):
            start = time.perf_counter()
            torch.softmax(model(images), dim=1)
            times.append(time.perf_counter() - start)
    rate = args.batch * args.iters / sum(times)
    print(f"PyTorch: {rate:.2f} images/s (best batch {args.batch / min(times):.2f}; "
          f"batch {args.batch}, {args.iters} batches, "
          f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads)")

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--export", action="store_true", help="write the model and exit")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if args.export:
        export(args.model, args.classes)
    else:
        bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
