#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""train.py - a PyTorch trainer for fltools: a small CNN on Fashion-MNIST.

  train.py --init [--seed S] -o MODEL.flt
      the initial global model: the CNN as PyTorch initializes it from
      seed S (default 1), kind=model round=0 arch=pytorch:fmnist-cnn
  train.py [-e EPOCHS] [-b BATCH] [--lr RATE] [--seed S] [--client ID]
           MODEL.flt SHARD.flt -o UPDATE.flt
      one client's step of a round: load the global model (a kind=model
      record, e.g. fl-apply's output) into the CNN, train it with SGD on the
      shard (a kind=dataset record from fl-split: x u8 [N,784], y [N]) and
      write the update: kind=update, the model's round, weight N, the
      trained weights minus the model's (flt.py update)
  train.py --eval [--limit N] MODEL.flt TEST.flt
      print "accuracy A" and "examples N" for a data set record (its
      first N examples)

MODEL.flt, SHARD.flt and TEST.flt may be "-" (stdin), UPDATE.flt "-"
(stdout), so the update can go straight into fl-clip-noise.  Any error is
one line naming the file, exit status 1; usage errors exit 2.  Any
program that reads the model record and writes an update record this way
can take this one's place; flt.py (examples/python) does the conversions.
"""
import argparse, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import flt  # noqa: E402

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("train.py needs PyTorch (Debian: apt install python3-torch)")

ARCH = "pytorch:fmnist-cnn"


class CNN(nn.Module):
    """conv 3x3 8 -> pool -> conv 3x3 16 -> pool -> fc 10 (9,098 weights).
    No BatchNorm: every tensor is a float weight, all of them in the update."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def load_model(path):
    """(meta, tensors, CNN) of a model record."""
    records = flt.load_records(path)
    with flt._About(path):
        flt._check((len(records) != 1, f"has {len(records)} records, want 1 model"))
        meta, tensors = records[0]
        flt._check((meta.get("kind") != "model", f"not a model record (kind={meta.get('kind')})"),
                   (meta.get("arch") != ARCH, f"arch={meta.get('arch')}, this trainer's is {ARCH}"))
        model = CNN()
        model.load_state_dict(flt.to_state_dict(tensors, like=model.state_dict()))
    return meta, tensors, model


def load_data(path):
    """(x float [N,1,28,28] in [0,1], y int64 [N]) of a data set record."""
    records = flt.load_records(path)
    with flt._About(path):
        flt._check((len(records) != 1, f"has {len(records)} records, want 1 data set"))
        meta, t = records[0]
        flt._check((meta.get("kind") != "dataset", f"not a data set (kind={meta.get('kind')})"),
                   ("x" not in t or "y" not in t, "no tensors x and y"))
        x, y = t["x"], t["y"]
        flt._check((x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],),
                    f"x {list(x.shape)}, y {list(y.shape)}: want [N,784] and [N]"),
                   (x.shape[0] == 0, "no examples"))
        x = torch.tensor(x, dtype=torch.float32) / (255 if x.dtype == "u1" else 1)
        y = torch.tensor(y.astype("i8"))
        flt._check(((y < 0).any() or (y > 9).any(), "labels outside 0-9"))
    return x.reshape(-1, 1, 28, 28), y


def main(argv):
    p = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n")[0])
    p.add_argument("--init", action="store_true", help="write the initial model")
    p.add_argument("--eval", action="store_true", help="print the accuracy on a data set")
    p.add_argument("-e", "--epochs", type=int, default=1)
    p.add_argument("-b", "--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--limit", type=int, help="--eval: the first N examples only")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--client", help="the update's client id")
    p.add_argument("-o", "--output")
    p.add_argument("files", nargs="*")
    a = p.parse_args(argv)
    want = 0 if a.init else 2
    if len(a.files) != want or (a.output is None) != a.eval or (a.init and a.eval):
        p.error("want --init -o MODEL, MODEL SHARD -o UPDATE, or --eval MODEL TEST")
    if a.epochs < 1 or a.batch < 1 or not a.lr > 0 or (a.limit is not None and a.limit < 1):
        p.error("epochs, batch and learning rate must be positive")
    torch.manual_seed(a.seed)
    try:
        if a.init:
            record = flt.from_state_dict(CNN().state_dict(),
                                         {"kind": "model", "round": 0, "arch": ARCH})
        elif a.eval:
            _, _, model = load_model(a.files[0])
            x, y = load_data(a.files[1])
            x, y = x[:a.limit], y[:a.limit]
            with torch.no_grad():
                right = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                            for i in range(0, len(y), 1000))
            print(f"accuracy {right / len(y):.4f}\nexamples {len(y)}")
            return
        else:
            meta, tensors, model = load_model(a.files[0])
            x, y = load_data(a.files[1])
            opt = torch.optim.SGD(model.parameters(), lr=a.lr)
            for _ in range(a.epochs):
                for batch in torch.randperm(len(y)).split(a.batch):
                    opt.zero_grad()
                    nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                    opt.step()
            _, trained = flt.from_state_dict(model.state_dict())
            extra = {"client": a.client} if a.client else {}
            record = flt.update(meta, tensors, trained, len(y), extra)
        with flt._About(a.output):
            flt.write_file(a.output, [record])
    except ValueError as e:
        sys.exit(f"train.py: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
