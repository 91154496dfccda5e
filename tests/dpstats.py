#!/usr/bin/python3
"""Statistical checks of fl-clip-noise's noise against exact distributions.

    dpstats.py gauss FILE SIGMA      continuous Gaussian (float tensor 'x')
    dpstats.py dgauss FILE SIGMA     exact discrete Gaussian (integer 'x')
    dpstats.py skellam FILE SIGMA    Skellam, variance SIGMA^2
    dpstats.py sum FILE SIGMA        tensor 'x' summed over all records
    dpstats.py independent FILE      chunks, tensors and records uncorrelated

Each reads the noise of records made from zero tensors, prints one line of
figures, and exits 1 when a figure is outside its bound.  The bounds are
set at false-alarm rates near 1e-4 (the runs use fixed seeds, so a test
never flaps; the seeds were not chosen to pass).
"""
import math
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/examples/python")
import flt  # noqa: E402

# The 1 - 1e-4 quantile of the standard normal, for z-tests.
Z = 3.89


def records(path):
    with open(path, "rb") as f:
        return list(flt.read_records(f))


def values(path, name="x"):
    return np.concatenate([t[name].astype(np.float64).ravel()
                           for _, t in records(path)])


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_moments(x, mean, var, what):
    """Sample mean and variance within Z standard errors of the truth."""
    n = len(x)
    m, v = x.mean(), x.var()
    # Var of the sample variance ~ (mu4 - var^2)/n; mu4 <= 3 var^2 for
    # these distributions, plus slack for the discrete ones.
    se_m, se_v = math.sqrt(var / n), math.sqrt(2.5 * var * var / n)
    print(f"{what}: n={n} mean={m:.6g} (want {mean:.6g}) "
          f"var={v:.6g} (want {var:.6g})")
    if abs(m - mean) > Z * se_m:
        fail(f"{what}: mean {m} is {abs(m - mean) / se_m:.1f} SE off")
    if abs(v - var) > Z * se_v:
        fail(f"{what}: variance {v} is {abs(v - var) / se_v:.1f} SE off")


def chi_square(x, support, pmf, what):
    """Chi-square goodness of fit, tails pooled so each bin expects >= 5."""
    n = len(x)
    expected = pmf * n
    counts = np.zeros(len(support))
    lo = support[0]
    idx = x.astype(np.int64) - lo
    if idx.min() < 0 or idx.max() >= len(support):
        fail(f"{what}: a value outside the support checked")
    np.add.at(counts, idx, 1)
    # Pool bins from both ends inward until each pooled bin expects >= 5.
    bins_e, bins_o, acc_e, acc_o = [], [], 0.0, 0.0
    for e, o in zip(expected, counts):
        acc_e += e
        acc_o += o
        if acc_e >= 5:
            bins_e.append(acc_e)
            bins_o.append(acc_o)
            acc_e = acc_o = 0.0
    bins_e[-1] += acc_e
    bins_o[-1] += acc_o
    e, o = np.array(bins_e), np.array(bins_o)
    stat = float(((o - e) ** 2 / e).sum())
    df = len(e) - 1
    # Wilson-Hilferty: the 1 - 1e-4 quantile of chi-square(df).
    crit = df * (1 - 2 / (9 * df) + Z * math.sqrt(2 / (9 * df))) ** 3
    print(f"{what}: chi-square {stat:.1f} on {df} df (limit {crit:.1f})")
    if stat > crit:
        fail(f"{what}: chi-square {stat:.1f} above {crit:.1f}")


def ks_normal(x, sigma, what):
    """Kolmogorov-Smirnov distance to N(0, sigma^2)."""
    x = np.sort(x)
    n = len(x)
    cdf = 0.5 * (1 + np.array([math.erf(v / (sigma * math.sqrt(2)))
                               for v in x]))
    i = np.arange(1, n + 1)
    d = max(float((i / n - cdf).max()), float((cdf - (i - 1) / n).max()))
    crit = math.sqrt(-math.log(1e-4 / 2) / 2) / math.sqrt(n)
    print(f"{what}: KS distance {d:.5f} (limit {crit:.5f})")
    if d > crit:
        fail(f"{what}: KS distance {d} above {crit}")


def dgauss_pmf(sigma):
    r = int(40 * sigma) + 40
    k = np.arange(-r, r + 1)
    w = np.exp(-(k.astype(np.float64) ** 2) / (2 * sigma * sigma))
    return k, w / w.sum()


def skellam_pmf(sigma):
    lam = sigma * sigma / 2
    r = int(lam + 40 * math.sqrt(lam) + 40)
    j = np.arange(0, r + 1)
    logp = j * math.log(lam) - lam - np.array([math.lgamma(v + 1)
                                                for v in j])
    p = np.exp(logp)
    pmf = np.correlate(p, p, "full")      # P[X - Y = k], k = -r .. r
    k = np.arange(-r, r + 1)
    return k, pmf / pmf.sum()


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "gauss":
        sigma = float(sys.argv[3])
        x = values(path)
        check_moments(x, 0, sigma * sigma, "gaussian")
        ks_normal(x, sigma, "gaussian")
    elif cmd in ("dgauss", "skellam"):
        sigma = float(sys.argv[3])
        x = values(path)
        k, pmf = dgauss_pmf(sigma) if cmd == "dgauss" else skellam_pmf(sigma)
        var = float((pmf * k.astype(np.float64) ** 2).sum())
        check_moments(x, 0, var, cmd)
        chi_square(x, k, pmf, cmd)
    elif cmd == "sum":
        sigma = float(sys.argv[3])
        recs = records(path)
        s = sum(t["x"].astype(np.float64).ravel() for _, t in recs)
        k, pmf = dgauss_pmf(sigma / math.sqrt(len(recs)))
        var = len(recs) * float((pmf * k.astype(np.float64) ** 2).sum())
        check_moments(s, 0, var, f"sum of {len(recs)} shares")
    elif cmd == "independent":
        recs = records(path)
        series = []
        for _, t in recs:
            for name, a in t.items():
                a = a.astype(np.float64).ravel()
                for c in range(0, len(a) - 16383, 16384):
                    series.append((name, c // 16384, a[c:c + 16384]))
        worst = 0.0
        for i in range(len(series)):
            for j in range(i + 1, len(series)):
                a, b = series[i][2], series[j][2]
                r = float(np.corrcoef(a, b)[0, 1])
                worst = max(worst, abs(r))
                if np.array_equal(a, b):
                    fail(f"chunks {series[i][:2]} and {series[j][:2]} "
                         "are identical")
        # |r| of independent series of 16384 has sd 1/128; allow for the
        # number of pairs compared.
        pairs = len(series) * (len(series) - 1) / 2
        limit = (Z + math.sqrt(2 * math.log(max(pairs, 1)))) / 128
        print(f"{len(series)} chunks, {int(pairs)} pairs: "
              f"largest |correlation| {worst:.4f} (limit {limit:.4f})")
        if worst > limit:
            fail(f"correlation {worst} between chunks above {limit}")
    else:
        fail(f"unknown check {cmd}")


if __name__ == "__main__":
    main()
