#!/usr/bin/env python3
"""How far a trained model is from rotation invariance (NanoPET and PET are not invariant by
construction; they learn it from rotated training data). Usage:
    python3 examples/accuracy/rotation_error.py MODEL.ckpt TEST.xyz [N_ROTATIONS] [ATOMGRAD]
Each frame of TEST.xyz gets N_ROTATIONS (default 4) Haar-random rotations (seed 0; positions,
cell), `atomgrad eval` predicts the original and the rotated frames, and the script prints
  energy: RMS and max over frames x rotations of |E(QR) - E(R)| per atom (meV/atom)
  forces: RMS of |Q^T F(QR) - F(R)| over components (meV/A) and relative to the RMS force
(an invariant model gives 0 up to rounding). Pure Python, no packages."""
import math, os, random, re, subprocess, sys, tempfile

def frames(path):
    lines = open(path).read().splitlines(); i = 0; out = []
    while i < len(lines) and lines[i].strip():
        n = int(lines[i]); out.append(lines[i:i + n + 2]); i += n + 2
    return out

def rotation(rng):
    q = [rng.gauss(0, 1) for _ in range(4)]; n = math.sqrt(sum(v * v for v in q)); w, x, y, z = [v / n for v in q]
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]

def apply(Q, v): return [sum(Q[r][k] * v[k] for k in range(3)) for r in range(3)]
def apply_t(Q, v): return [sum(Q[k][r] * v[k] for k in range(3)) for r in range(3)]

def predictions(path):
    """energy and forces [n, 3] per frame of an `atomgrad eval` output."""
    out = []
    for fr in frames(path):
        h = fr[1]
        E = float(re.search(r'(?:^| )energy=(\S+)', h).group(1))
        props = re.search(r'Properties=(\S+)', h).group(1).split(':')
        col, k, fcol = 0, 0, None
        while k < len(props):
            name, n = props[k], int(props[k + 2])
            if name == 'forces': fcol = col
            col += n; k += 3
        F = [[float(v) for v in line.split()[fcol:fcol + 3]] for line in fr[2:]]
        out.append((E, F))
    return out

def main():
    model, test = sys.argv[1], sys.argv[2]
    nrot = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    atomgrad = sys.argv[4] if len(sys.argv) > 4 else 'build/atomgrad'
    rng = random.Random(0)
    src = frames(test)
    rotated, Qs = [], []
    for _ in range(nrot):
        for fr in src:
            Q = rotation(rng); Qs.append(Q); h = fr[1]
            m = re.search(r'Lattice="([^"]+)"', h)
            if m:
                lat = [float(x) for x in m.group(1).split()]
                a = [apply(Q, lat[3 * k:3 * k + 3]) for k in range(3)]
                h = h.replace(m.group(0), 'Lattice="' + ' '.join(repr(x) for v in a for x in v) + '"')
            h = re.sub(r' stress="[^"]+"', '', h)
            lines = [fr[0], h]
            for line in fr[2:]:
                p = line.split()
                lines.append(' '.join([p[0]] + [repr(x) for x in apply(Q, [float(v) for v in p[1:4]])] + p[4:]))
            rotated.append(lines)
    with tempfile.TemporaryDirectory() as tmp:
        rot_in = os.path.join(tmp, 'rotated.xyz')
        open(rot_in, 'w').write('\n'.join(l for fr in rotated for l in fr) + '\n')
        for name, path in (('orig', test), ('rot', rot_in)):
            subprocess.run([atomgrad, 'eval', model, path, '-o', os.path.join(tmp, name + '.xyz')], check=True,
                           stdout=subprocess.DEVNULL)
        ref = predictions(os.path.join(tmp, 'orig.xyz'))
        got = predictions(os.path.join(tmp, 'rot.xyz'))
    de, df, f2 = [], 0.0, 0.0
    nf = 0
    for k, (E, F) in enumerate(got):
        E0, F0 = ref[k % len(src)]
        n = len(F0)
        de.append(abs(E - E0) / n)
        for i in range(n):
            back = apply_t(Qs[k], F[i])
            for c in range(3):
                df += (back[c] - F0[i][c]) ** 2; f2 += F0[i][c] ** 2; nf += 1
    rms_e = math.sqrt(sum(x * x for x in de) / len(de))
    print(f'{len(got)} rotated frames: energy |dE|/atom RMS {1000 * rms_e:.3f} max {1000 * max(de):.3f} meV/atom; '
          f'forces |Q^T F(QR) - F(R)| RMS {1000 * math.sqrt(df / nf):.2f} meV/A '
          f'({100 * math.sqrt(df / f2):.2f} % of the RMS force)')

main()
