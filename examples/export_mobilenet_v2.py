#!/usr/bin/python3
"""Exports torchvision's MobileNetV2 as TorchScript, the way a researcher brings a model to CSSS.

usage: export_mobilenet_v2.py OUT.pt [--classes N] [--width W] [--weights STATE_DICT.pt]
                              [--favour-first-class]

Without --weights the weights are seeded random ones: such a model runs, but its results mean
nothing (the demo uses one until the trained models ship; the tests use one to check the
plumbing). --favour-first-class sets the last layer's bias so that class 0 wins with ~95%
confidence, which gives tests a result that is not "Uncertain". Import the file with:

  csss model import OUT.pt --name NAME --classes a,b --risk a=low,b=high
"""
import argparse

import torch
import torchvision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--weights", help="a state_dict saved with torch.save")
    parser.add_argument("--favour-first-class", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=args.classes, width_mult=args.width)
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    model.eval()
    if args.favour_first_class:
        with torch.no_grad():
            bias = model.classifier[1].bias
            bias.zero_()
            bias[0] = 3.0  # softmax([3, 0]) = 0.95 for two classes
    torch.jit.script(model).save(args.out)


if __name__ == "__main__":
    main()
