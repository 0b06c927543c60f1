#!/usr/bin/python3
"""imagefeed against the naive decode limit and the PyTorch DataLoader, in one command.

    /usr/bin/python3 bench/speed_bench.py [--images 2000] [--seconds 4] [--rounds 3]
        [--recipes resize,center,train] [--dtypes float32,uint8] [--transports grpc,shm] [--json]

Needs the build (build/bin/imagefeed-server, build/bin/naive_limit, the Python stubs) and the
photos of ../shared/datasets/make_photos.py, generated once into --data_dir (default
~/.cache/imagefeed-bench) with --images rounded up to a multiple of its 10 classes; or
--dataset DIR for any ImageFolder tree. Each image of the tree is read once first, so every
pipeline reads from the page cache.

For each recipe and dtype it measures three pipelines that deliver the same batches (64 images,
3x224x224, NCHW, with labels) to one Python process, each on all of this machine's cores:

  naive      bench/naive_limit.cc: plain TurboJPEG full decode, a straightforward scalar bilinear
             resize, normalize (or round to uint8); std::thread per core, no gRPC, no Python.
             The fixed yardstick: it is kept naive on purpose.
  imagefeed  imagefeed-server --threads=<cores> on 127.0.0.1, consumed with
             imagefeed.torch.ImageFeedDataset (batches as torch tensors over the received bytes),
             float32 standardized with the dataset's fitted statistics (fitted before timing).
             One column per transport of --transports (default grpc,shm): "grpc" (bytes over
             the socket, forced), "shm" (the local shared-memory transport,
             Client(transport="shm")) and, on request, "grpcio" (bytes over the socket received
             by grpcio instead of the client's imagefeed._native: Client(native_receive=False)).
  pytorch    torch.utils.data.DataLoader over torchvision.datasets.ImageFolder, <cores> workers,
             the torchvision transform below, persistent workers.

  recipe  imagefeed request                              torchvision transform (then ToTensor +
                                                         Normalize, or PILToTensor for uint8)
  resize  size=224 (stretch)                             Resize((224, 224))
  center  size=224, shorter_side, resize_size=256        Resize(256), CenterCrop(224)
  train   size=224, random_resized_crop, random_flip     RandomResizedCrop(224), RandomHorizontalFlip()

imagefeed and pytorch run one untimed warm-up epoch, then whole epochs until --seconds passed;
naive cycles over the files for --seconds (at least once). Per recipe and dtype, --rounds rounds
run every pipeline once each, one after the other; a pipeline's figures are its median round's
and a ratio is the median of the rounds' ratios. The speed of this shared machine drifts by tens
of percent within minutes, so ratios of pipelines measured side by side, several times, are
what can be compared; the JSON keeps every round. Reported: images/s (wall clock) and
images per CPU-second (every process of the pipeline: server + client, DataLoader workers +
main, the naive threads), which is steadier than wall time on a shared machine; the ratios
imagefeed/naive and imagefeed/pytorch; and, from a server started for each imagefeed run, its
VmHWM (peak RSS) and its accounted peak (GetServerStatus memory_peak: the batch buffers in
flight, the shared-memory ring, decode scratch), whose difference is the server's own memory
(issue #11: at most 64 MB). --json prints the results as JSON on
stdout (the table then goes to stderr).
"""
import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RECIPES = ("resize", "center", "train")
DTYPES = ("float32", "uint8")
# The Client options of each imagefeed transport --transports accepts; each gets its own column
# and ratios. Forced either way: "auto" would pick shm for this loopback server.
CLIENT_OPTIONS = {"grpc": {"transport": "grpc"}, "shm": {"transport": "shm"},
                  "grpcio": {"transport": "grpc", "native_receive": False}}
TRANSPORTS = ("grpc", "shm")  # the default
BATCH = 64
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Dataset


def ensure_photos(args):
    """The ImageFolder root: --dataset, or make_photos.py's tree cached in --data_dir."""
    if args.dataset:
        return args.dataset
    per_class = max(1, math.ceil(args.images / 10))
    out = os.path.join(args.data_dir, f"photos-{per_class}-per-class")
    if os.path.isdir(os.path.join(out, "train")):
        return os.path.join(out, "train")
    if not os.path.exists(args.make_photos):
        sys.exit(f"speed_bench: {args.make_photos} not found; pass --make_photos or --dataset")
    os.makedirs(args.data_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="photos-", dir=args.data_dir)
    log(f"generating {per_class * 10} photos into {out} (once) ...")
    subprocess.run([sys.executable, args.make_photos, "--out", tmp, "--per-class", str(per_class)], check=True,
                   stdout=subprocess.DEVNULL)
    os.rename(tmp, out)  # atomic: a half-written tree is never taken for a cached one
    return os.path.join(out, "train")


def image_files(root):
    from torchvision.datasets import ImageFolder
    return [path for path, _ in ImageFolder(root).samples]


# ---------------------------------------------------------------------------------------------
# CPU accounting


def proc_cpu_seconds(pid):
    """utime + stime of a live process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu_seconds():
    """CPU seconds of this process's live children (DataLoader workers)."""
    me, total = os.getpid(), 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == me:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            pass  # exited meanwhile
    return total


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def result(images, seconds, cpu, **extra):
    return dict(images=images, seconds=round(seconds, 3), cpu_seconds=round(cpu, 3),
                images_per_second=round(images / seconds, 1) if seconds > 0 else 0.0,
                images_per_cpu_second=round(images / cpu, 1) if cpu > 0 else 0.0, **extra)


# ---------------------------------------------------------------------------------------------
# The three pipelines


def run_naive(args, list_file, recipe, dtype):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([args.naive_bin, f"--recipe={recipe}", f"--dtype={dtype}", f"--seconds={args.seconds}",
                          f"--threads={args.cores}", f"--list={list_file}"], capture_output=True, text=True)
    if run.returncode != 0:  # e.g. a file TurboJPEG/libpng cannot decode
        sys.exit(f"speed_bench: {args.naive_bin} failed ({run.returncode}): {run.stdout}{run.stderr}")
    out = run.stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result(r["images"], r["seconds"], cpu)


def imagefeed_kwargs(recipe, dtype, transport):
    kw = dict(size=(SIZE, SIZE), shuffle=True, dtype=dtype, normalize="standardize" if dtype == "float32" else "none")
    if recipe == "center":
        kw.update(resize_mode="shorter_side", resize_size=256)
    elif recipe == "train":
        kw.update(random_resized_crop=True, random_flip=True)
    if transport not in CLIENT_OPTIONS:
        raise ValueError(f"transport {transport!r} is not built")
    kw["client_options"] = dict(CLIENT_OPTIONS[transport])
    return kw


def torchvision_transform(recipe, dtype):
    from torchvision import transforms as T
    geometry = {"resize": [T.Resize((SIZE, SIZE))],
                "center": [T.Resize(256), T.CenterCrop(SIZE)],
                "train": [T.RandomResizedCrop(SIZE), T.RandomHorizontalFlip()]}[recipe]
    tail = [T.PILToTensor()] if dtype == "uint8" else [T.ToTensor(), T.Normalize(MEAN, STD)]
    return T.Compose(geometry + tail)


def timed_epochs(make_iter, seconds, cpu_now):
    """One untimed warm-up epoch, then whole epochs until `seconds` passed."""
    n = 0
    for images, labels in make_iter(0):
        assert images.shape[1:] == (3, SIZE, SIZE) and len(labels) == images.shape[0], images.shape
    cpu0, start, epoch = cpu_now(), time.perf_counter(), 1
    while True:
        for images, _ in make_iter(epoch):
            n += images.shape[0]
        epoch += 1
        if time.perf_counter() - start >= seconds:
            break
    return n, time.perf_counter() - start, cpu_now() - cpu0


def worker_imagefeed(spec):
    """Runs in a child process (gRPC and forked DataLoader workers do not mix)."""
    import torch
    import imagefeed.torch
    torch.set_num_threads(1)
    ds = imagefeed.torch.ImageFeedDataset(spec["addr"], "bench", batch_size=BATCH, **spec["kwargs"])
    loader = torch.utils.data.DataLoader(ds, batch_size=None)

    def make_iter(epoch):
        ds.set_epoch(epoch)
        return loader

    server_pid = spec["server_pid"]
    n, wall, cpu = timed_epochs(make_iter, spec["seconds"],
                                lambda: self_cpu_seconds() + proc_cpu_seconds(server_pid))
    # Highest memory the server accounted (batch buffers in flight, rings, decode scratch)
    # since it started: it served only this run.
    peak = imagefeed.Client(spec["addr"]).server_status()[spec["addr"]]["memory_peak"]
    return result(n, wall, cpu, server_accounted_peak_kib=peak // 1024)


def worker_pytorch(spec):
    import torch
    from torchvision.datasets import ImageFolder
    torch.set_num_threads(1)
    folder = ImageFolder(spec["root"], transform=torchvision_transform(spec["recipe"], spec["dtype"]))
    loader = torch.utils.data.DataLoader(folder, batch_size=BATCH, shuffle=True, num_workers=spec["workers"],
                                         persistent_workers=True)
    n, wall, cpu = timed_epochs(lambda epoch: loader, spec["seconds"],
                                lambda: self_cpu_seconds() + children_cpu_seconds())
    return result(n, wall, cpu)


def run_worker(kind, spec):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--_worker={kind}", json.dumps(spec)],
                         capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python")))
    if out.returncode != 0:
        sys.exit(f"speed_bench: the {kind} run failed ({spec}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Server:
    def __init__(self, args, root, cache):
        self.proc = subprocess.Popen([args.server_bin, "--listen=127.0.0.1:0", f"--dataset=bench={root}",
                                      f"--threads={args.cores}", f"--cache_dir={cache}", "--drain_seconds=2"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("imagefeed-server listening on "):
            self.proc.kill()
            sys.exit(f"speed_bench: imagefeed-server did not start: {line!r}")
        self.addr = line.split()[-1]

    def fit_stats(self):
        # In a child process too: this one forks no DataLoader workers, but keeps no channel open.
        subprocess.run([sys.executable, "-c", "import sys, imagefeed; imagefeed.Client(sys.argv[1]).stats("
                        "'bench', wait=True, timeout=600)", self.addr], check=True,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python")))

    def status_kib(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


# ---------------------------------------------------------------------------------------------
# Rounds


def run_round(args, root, cache, list_file, recipe, dtype, transports):
    """Every pipeline once, one after the other: {"naive", "imagefeed": {transport}, "pytorch"}."""
    r = {"imagefeed": {}}
    r["naive"] = run_naive(args, list_file, recipe, dtype)
    log(f"{recipe} {dtype}: naive {r['naive']['images_per_second']} img/s")
    for t in transports:
        # A server of its own per run: its VmHWM and accounted peak are this run's.
        server = Server(args, root, cache)
        try:
            spec = dict(addr=server.addr, server_pid=server.proc.pid, seconds=args.seconds,
                        kwargs=imagefeed_kwargs(recipe, dtype, t))
            run = run_worker("imagefeed", spec)
            run["server_vmhwm_kib"] = server.status_kib("VmHWM")
        finally:
            server.stop()
        run["server_unaccounted_kib"] = run["server_vmhwm_kib"] - run["server_accounted_peak_kib"]
        r["imagefeed"][t] = run
        log(f"{recipe} {dtype}: {name(t)} {run['images_per_second']} img/s, VmHWM "
            f"{run['server_vmhwm_kib'] // 1024} MiB = accounted peak "
            f"{run['server_accounted_peak_kib'] // 1024} MiB + "
            f"{run['server_unaccounted_kib'] // 1024} MiB")
    r["pytorch"] = run_worker("pytorch", dict(root=root, recipe=recipe, dtype=dtype,
                                              seconds=args.seconds, workers=args.cores))
    log(f"{recipe} {dtype}: pytorch {r['pytorch']['images_per_second']} img/s")
    r["ratios"] = {}
    for t in transports:
        mine = r["imagefeed"][t]
        for other in ("naive", "pytorch"):
            r["ratios"][f"{name(t)}/{other}"] = mine["images_per_second"] / r[other]["images_per_second"]
            r["ratios"][f"{name(t)}/{other}_per_cpu_second"] = (mine["images_per_cpu_second"] /
                                                               r[other]["images_per_cpu_second"])
    return r


def median_run(runs):
    """The run of median images/s (the lower one of an even count), with the highest memory
    figures of all runs."""
    run = dict(sorted(runs, key=lambda x: x["images_per_second"])[(len(runs) - 1) // 2])
    for key in ("server_vmhwm_kib", "server_accounted_peak_kib", "server_unaccounted_kib"):
        if key in run:
            run[key] = max(x[key] for x in runs)
    return run


def summarize(recipe, dtype, rounds, transports):
    """Per pipeline its median run; per ratio the median of the rounds' ratios (each taken
    between runs minutes apart at most, so a machine that slows down for a while moves both
    sides of it). The rounds' own figures stay under "rounds"."""
    r = {"recipe": recipe, "dtype": dtype, "rounds": rounds,
         "naive": median_run([x["naive"] for x in rounds]),
         "imagefeed": {t: median_run([x["imagefeed"][t] for x in rounds]) for t in transports},
         "pytorch": median_run([x["pytorch"] for x in rounds])}
    r["ratios"] = {key: round(statistics.median(x["ratios"][key] for x in rounds), 2) for key in rounds[0]["ratios"]}
    return r


# ---------------------------------------------------------------------------------------------
# Report


def columns(transports):
    cols = [("recipe", 7), ("dtype", 8), ("naive img/s", 12)]
    cols += [(f"{name(t)} img/s", 16) for t in transports]
    cols += [("pytorch img/s", 14)]
    for t in transports:
        cols += [(f"{name(t)}/naive", 16), (f"{name(t)}/pytorch", 18), (f"{name(t)} VmHWM MiB", 20),
                 (f"{name(t)} accounted MiB", 24)]
    cols += [("naive img/cpu-s", 16)] + [(f"{name(t)} img/cpu-s", 20) for t in transports]
    cols += [("pytorch img/cpu-s", 18)]
    return cols


def name(transport):
    return "imagefeed" if transport == "grpc" else f"imagefeed-{transport}"


def row_values(r, transports):
    v = [r["recipe"], r["dtype"], r["naive"]["images_per_second"]]
    v += [r["imagefeed"][t]["images_per_second"] for t in transports]
    v += [r["pytorch"]["images_per_second"]]
    for t in transports:
        v += [r["ratios"][f"{name(t)}/naive"], r["ratios"][f"{name(t)}/pytorch"],
              round(r["imagefeed"][t]["server_vmhwm_kib"] / 1024, 1),
              round(r["imagefeed"][t]["server_accounted_peak_kib"] / 1024, 1)]
    v += [r["naive"]["images_per_cpu_second"]] + [r["imagefeed"][t]["images_per_cpu_second"] for t in transports]
    v += [r["pytorch"]["images_per_cpu_second"]]
    return v


def print_table(results, transports, out):
    cols = columns(transports)
    print("  ".join(f"{c:>{w}}" for c, w in cols), file=out)
    for r in results:
        cells = []
        for (c, w), v in zip(cols, row_values(r, transports)):
            cells.append(f"{v:>{w}.2f}" if isinstance(v, float) and "/" in c and "img" not in c else f"{v:>{w}}")
        print("  ".join(cells), file=out)


# ---------------------------------------------------------------------------------------------


def parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        sys.exit(f"speed_bench: --{what}: {','.join(bad) or 'empty'} not in {','.join(allowed)}")
    return items


def main():
    if len(sys.argv) == 3 and sys.argv[1].startswith("--_worker="):
        kind = sys.argv[1].split("=", 1)[1]
        spec = json.loads(sys.argv[2])
        print(json.dumps({"imagefeed": worker_imagefeed, "pytorch": worker_pytorch}[kind](spec)))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000,
                    help="photos to generate (make_photos.py's default; rounded up to 10 classes; not with --dataset)")
    ap.add_argument("--seconds", type=float, default=4.0, help="timed seconds per pipeline, recipe and round (at "
                    "least one epoch)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of all pipelines per recipe and dtype; the "
                    "median is reported")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--transports", default=",".join(TRANSPORTS))
    ap.add_argument("--json", action="store_true", help="JSON on stdout (the table goes to stderr)")
    ap.add_argument("--cores", type=int, default=os.cpu_count(),
                    help="naive threads, server threads and DataLoader workers")
    ap.add_argument("--dataset", help="an ImageFolder root to use instead of generated photos")
    ap.add_argument("--data_dir", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                       os.path.expanduser("~/.cache"), "imagefeed-bench"))
    ap.add_argument("--make_photos", default=os.path.join(ROOT, "..", "shared", "datasets", "make_photos.py"))
    ap.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    args.server_bin = os.path.join(args.build_dir, "bin", "imagefeed-server")
    args.naive_bin = os.path.join(args.build_dir, "bin", "naive_limit")
    if args.rounds < 1:
        sys.exit("speed_bench: --rounds must be at least 1")
    recipes = parse_list(args.recipes, RECIPES, "recipes")
    dtypes = parse_list(args.dtypes, DTYPES, "dtypes")
    transports = parse_list(args.transports, tuple(CLIENT_OPTIONS), "transports")

    root = ensure_photos(args)
    files = image_files(root)
    for path in files:  # page cache
        with open(path, "rb") as f:
            f.read()
    log(f"{len(files)} images in {root}; {args.cores} cores; load average {os.getloadavg()[0]:.2f}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        list_file = os.path.join(tmp, "files.txt")
        with open(list_file, "w") as f:
            f.write("\n".join(files) + "\n")
        cache = os.path.join(tmp, "cache")
        if "float32" in dtypes:  # standardize: statistics fitted (into the cache) before timing
            server = Server(args, root, cache)
            try:
                server.fit_stats()
            finally:
                server.stop()
        for recipe in recipes:
            for dtype in dtypes:
                rounds = []
                for k in range(args.rounds):
                    log(f"{recipe} {dtype}: round {k + 1} of {args.rounds}")
                    rounds.append(run_round(args, root, cache, list_file, recipe, dtype, transports))
                results.append(summarize(recipe, dtype, rounds, transports))
    report = dict(images=len(files), dataset=root, cores=args.cores, seconds=args.seconds, rounds=args.rounds,
                  batch_size=BATCH, size=SIZE, transports=transports,
                  load_average_end=round(os.getloadavg()[0], 2), results=results)
    print_table(results, transports, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
