"""Baselines for bench/90-train.sh: the same MLP, data, batch, learning
rate and initialisation scheme as fl-train, in numpy or PyTorch.

    python3 mlp.py numpy|torch IMAGES LABELS [epochs [batch [lr [hidden]]]]

IMAGES and LABELS are uncompressed IDX files.  Prints, per epoch, its
wall time in seconds (data already in memory, float32, pixels / 255,
shuffled each epoch, minibatch SGD on the mean cross-entropy), then the
training accuracy after the last epoch.  Threads: whatever the caller
set (OPENBLAS_NUM_THREADS, torch.set_num_threads from FL_THREADS).
"""
import os, sys, time
import numpy as np


def idx(path):
    with open(path, "rb") as f:
        d = f.read()
    nd = d[3]
    dims = [int.from_bytes(d[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(d, np.uint8, offset=4 + 4 * nd).reshape(dims)


mode, images, labels = sys.argv[1:4]
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
B = int(sys.argv[5]) if len(sys.argv) > 5 else 32
lr = float(sys.argv[6]) if len(sys.argv) > 6 else 0.1
H = int(sys.argv[7]) if len(sys.argv) > 7 else 128
threads = int(os.environ.get("FL_THREADS", "1"))
X = idx(images).reshape(-1, 784).astype(np.float32) / 255
y = idx(labels).astype(np.int64)
n = len(y)
rng = np.random.default_rng(0)
W1 = (rng.standard_normal((784, H)) * np.sqrt(2 / 784)).astype(np.float32)
lim = np.sqrt(6 / (H + 10))
W2 = rng.uniform(-lim, lim, (H, 10)).astype(np.float32)
b1 = np.zeros(H, np.float32)
b2 = np.zeros(10, np.float32)

if mode == "numpy":
    lr32 = np.float32(lr)
    for ep in range(epochs):
        t = time.perf_counter()
        perm = rng.permutation(n)
        for s in range(0, n, B):
            i = perm[s:s + B]
            xb, yb = X[i], y[i]
            h = xb @ W1 + b1
            a = np.maximum(h, 0)
            z = a @ W2 + b2
            z -= z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            p /= len(yb)
            gW2 = a.T @ p
            gb2 = p.sum(0)
            da = p @ W2.T
            da[h <= 0] = 0
            gW1 = xb.T @ da
            gb1 = da.sum(0)
            W1 -= lr32 * gW1
            b1 -= lr32 * gb1
            W2 -= lr32 * gW2
            b2 -= lr32 * gb2
        print("%.4f" % (time.perf_counter() - t), flush=True)
    z = np.maximum(X @ W1 + b1, 0) @ W2 + b2
    print("accuracy %.4f" % (z.argmax(1) == y).mean())
else:
    import torch
    torch.set_num_threads(threads)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(784, H), torch.nn.ReLU(),
                                torch.nn.Linear(H, 10))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(W1.T.copy()))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.from_numpy(W2.T.copy()))
        model[2].bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    for ep in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, B):
            i = perm[s:s + B]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[i]), yt[i])
            loss.backward()
            opt.step()
        print("%.4f" % (time.perf_counter() - t), flush=True)
    with torch.no_grad():
        acc = (model(Xt).argmax(1) == yt).float().mean().item()
    print("accuracy %.4f" % acc)
