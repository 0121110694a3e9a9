"""Every dataset a training or evaluation command reads: where it is expected, whether it is there,
and where the public original comes from (with its terms as known).

    python -m studio.data check                      # the datasets root (STUDIO_DATASETS or ../shared/datasets)
    python -m studio.data check --root /data/sets    # another folder laid out the same way
    python -m studio.data prepare-tiny-imagenet ~/Downloads/tiny-imagenet-200

``check`` exits with status 1 while a dataset that a command reads by default is missing or
incomplete (the optional ones, demos and the GPU recipe, only get reported). Torch-free: it only
lists folders. ``studio.data.require_dataset`` names the dataset of a missing folder from here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from studio.data import DATASETS
from studio.imageio import IMAGE_SUFFIXES

BSDS_TERMS = "non-commercial research and educational use (the Berkeley Segmentation Dataset's terms)"
NO_LICENCE = "no licence stated by the authors; a research benchmark: cite the paper"


@dataclass(frozen=True)
class Dataset:
    name: str  # folder under the datasets root
    title: str
    parts: dict[str, int]  # sub-folder ("" = the folder itself) -> images expected, counted recursively
    used_by: tuple[str, ...]
    source: str  # the original: citation and project page
    terms: str
    copy: str = ""  # the public copy ../shared/datasets was made from (repository, path, commit)
    setup: str = ""  # how to lay out a download
    required: bool = True  # read by default by a training or evaluation command
    notes: tuple[str, ...] = field(default_factory=tuple)


CATALOG: tuple[Dataset, ...] = (
    Dataset(
        "bsds500", "BSDS500, the Berkeley Segmentation Dataset (481x321 JPG)",
        {"train": 200, "val": 100, "test": 200},
        ("python -m training.train_sr (srresnet, srgan-v2, srgan-v3: --data train+test, with t91) and "
         "training.protocol --model srresnet",
         "python -m training.train_deblur, training.train_restoration, training.train_denoiser "
         "(--data train+test, --val val)",
         "python -m studio.evaluate --task sr --clean .../bsds500/val (B100; training/recipes/sr_eval.sh)"),
        "P. Arbelaez, M. Maire, C. Fowlkes, J. Malik, \"Contour Detection and Hierarchical Image Segmentation\", "
        "IEEE TPAMI 33(5), 2011; https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html",
        BSDS_TERMS,
        copy="github.com/Sisso16/ssn_pytorch BSR/BSDS500/data/images @c4f9ac8c",
        setup="download BSR_bsds500.tgz from the project page; move BSR/BSDS500/data/images to <root>/bsds500 "
              "(train/, val/, test/; val is the SR benchmark B100)"),
    Dataset(
        "t91", "T91, the 91 training images of Yang et al.", {"": 91},
        ("python -m training.train_sr (--data of every preset; srgan-v1 trains on t91 alone)",
         "python -m training.protocol --model srresnet (its --data default)"),
        "J. Yang, J. Wright, T. Huang, Y. Ma, \"Image Super-Resolution via Sparse Representation\", "
        "IEEE TIP 19(11), 2010 (the training set released with their ScSR code)",
        NO_LICENCE,
        copy="github.com/jiny2001/dcscn-super-resolution data/yang91 @d382bc30 (BMP re-saved as PNG; BMP works too)",
        setup="the 91 images (t1.bmp ... t91.bmp) in <root>/t91"),
    Dataset(
        "set5", "Set5 (baby, bird, butterfly, head, woman)", {"": 5},
        ("python -m training.train_sr (--val default)",
         "python -m training.protocol --model srresnet (--val / --clean default)",
         "python -m studio.evaluate --task sr and --task deblur --clean .../set5 "
         "(training/recipes/sr_eval.sh, deblur_cpu.sh)"),
        "M. Bevilacqua, A. Roumy, C. Guillemot, M.-L. Alberi Morel, \"Low-Complexity Single-Image Super-Resolution "
        "based on Nonnegative Neighbor Embedding\", BMVC 2012; "
        "http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html",
        NO_LICENCE,
        copy="github.com/majedelhelou/denoising_datasets CSet5 @58234876",
        setup="the 5 HR images in <root>/set5 (baby.png ... woman.png)"),
    Dataset(
        "set14", "Set14 (14 HR images, one of them grayscale)", {"": 14},
        ("python -m studio.evaluate --task sr and --task deblur --clean .../set14 "
         "(training/recipes/sr_eval.sh, deblur_cpu.sh)",),
        "R. Zeyde, M. Elad, M. Protter, \"On Single Image Scale-Up Using Sparse-Representations\", "
        "Curves and Surfaces 2010, LNCS 6920",
        NO_LICENCE,
        copy="github.com/majedelhelou/denoising_datasets CSet14 @58234876",
        setup="the 14 HR images in <root>/set14 (baboon.png ... zebra.png)"),
    Dataset(
        "mcmaster", "McMaster colour images (500x500 TIF)", {"": 18},
        ("python -m studio.evaluate --task restoration --clean .../mcmaster (training/recipes/restoration_cpu.sh)",),
        "L. Zhang, X. Wu, A. Buades, X. Li, \"Color demosaicking by local directional interpolation and nonlocal "
        "adaptive thresholding\", J. Electronic Imaging 20(2), 2011; "
        "https://www4.comp.polyu.edu.hk/~cslzhang/CDM_Dataset.htm",
        NO_LICENCE,
        copy="github.com/cszn/IRCNN testsets/Set18 @d9dcd537",
        setup="the 18 images in <root>/mcmaster"),
    Dataset(
        "cbsd68", "CBSD68, the 68 colour BSD test images", {"": 68},
        ("python -m studio.evaluate --task restoration --clean .../cbsd68 (training/recipes/restoration_cpu.sh)",
         "python -m training.train_restoration leaves its BSDS IDs out of training and validation"),
        "D. Martin, C. Fowlkes, D. Tal, J. Malik, \"A Database of Human Segmented Natural Images...\", ICCV 2001 "
        "(the 68 images chosen by S. Roth, M. Black, \"Fields of Experts\", CVPR 2005), in colour as distributed "
        "with K. Zhang et al.'s denoisers (github.com/cszn/DnCNN testsets/CBSD68)",
        BSDS_TERMS,
        copy="github.com/cszn/IRCNN testsets/CBSD68 @d9dcd537",
        setup="the 68 images in <root>/cbsd68 (named by BSDS ID)"),
    Dataset(
        "levin2009", "Levin et al. 2009: 4 sharp images, 32 blurred with 8 real camera-shake kernels",
        {"sharp": 4, "blurred": 32},
        ("python -m studio.evaluate --task deblur --clean .../levin2009/sharp --degraded .../levin2009/blurred "
         "(training/recipes/deblur_cpu.sh)",),
        "A. Levin, Y. Weiss, F. Durand, W. T. Freeman, \"Understanding and Evaluating Blind Deconvolution "
        "Algorithms\", CVPR 2009; http://www.wisdom.weizmann.ac.il/~levina/papers/LevinEtalCVPR09Data.rar",
        NO_LICENCE,
        copy="github.com/xl-tang3/UAUDeblur Datasets/Levin @58bc007f; kernels from github.com/cszn/IRCNN "
             "kernels/Levin09.mat @d9dcd537",
        setup="PNGs in <root>/levin2009/sharp/im_X.png and blurred/im_X_ker_Y.png (im_X blurred with kernel Y); "
              "the original is MATLAB files (x sharp, y blurred, f kernel)",
        notes=("the 8 kernels ship with the repository (data/kernels/levin09_kernels.npz)",)),
    Dataset(
        "tiny_imagenet_subset", "Tiny ImageNet (64x64, 200 classes), 100 train and 50 val images per class",
        {"train": 20000, "val": 10000},
        ("python -m training.train_classifier (--data default; vgg-mini, the perceptual-loss backbone)",
         "python -m training.protocol --model dilated-cnn / resnet-dropout (training/recipes/protocol_cpu.sh)"),
        "Stanford CS231n, \"Tiny ImageNet Visual Recognition Challenge\" (Y. Le, X. Yang, 2015), images from "
        "ImageNet (J. Deng et al., CVPR 2009); http://cs231n.stanford.edu/tiny-imagenet-200.zip",
        "ImageNet terms of access: non-commercial research and educational use (https://image-net.org/download.php)",
        copy="github.com/rangeetpan/IMagenet tiny-imagenet-200 @6125d8a1 (100 of the 500 train images per class, "
             "val regrouped into class folders)",
        setup="unzip tiny-imagenet-200.zip, then `python -m studio.data prepare-tiny-imagenet tiny-imagenet-200` "
              "(train/<wnid>/ and val/<wnid>/ folders, wnids.txt, words.txt)"),
    Dataset(
        "gopro_blurred_only", "GoPro blurred frames (1280x720, no sharp pair)", {"": 7},
        ("python -m benchmarks.bench_inference --task deblur (its default --image)",
         "python -m studio.restore --task deblur --input .../gopro_blurred_only/... (docs/deblur.md example)"),
        "S. Nah, T. H. Kim, K. M. Lee, \"Deep Multi-scale Convolutional Neural Network for Dynamic Scene "
        "Deblurring\", CVPR 2017; https://seungjunnah.github.io/Datasets/gopro.html",
        "CC BY 4.0 (per the authors)",
        copy="github.com/SeungjunNah/DeepDeblur_release dataset/examples/blur_gamma @2d5a6985",
        setup="any blurred frames in <root>/gopro_blurred_only", required=False,
        notes=("two of them ship in data/samples/real_blur",)),
    Dataset(
        "real_blurred_lai2016", "Lai et al. 2016 real blurred photos (no ground truth)", {"": 100},
        ("python -m studio.restore --task deblur --input .../real_blurred_lai2016 (no-reference demos)",),
        "W.-S. Lai, J.-B. Huang, Z. Hu, N. Ahuja, M.-H. Yang, \"A Comparative Study for Single Image Blind "
        "Deblurring\", CVPR 2016; http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/",
        NO_LICENCE,
        copy="github.com/xl-tang3/UAUDeblur Datasets/Lai/real/blurry @58bc007f",
        setup="the 100 real blurred images in <root>/real_blurred_lai2016", required=False,
        notes=("two of them ship in data/samples/real_blur",)),
    Dataset(
        "set12", "Set12, 12 classic grayscale test images", {"": 12},
        ("python -m studio.evaluate --clean .../set12 (a grayscale denoising benchmark; no shipped figure uses it)",),
        "the test set of K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, \"Beyond a Gaussian Denoiser: Residual "
        "Learning of Deep CNN for Image Denoising\", IEEE TIP 26(7), 2017 (github.com/cszn/DnCNN testsets/Set12)",
        NO_LICENCE,
        copy="github.com/cszn/IRCNN testsets/Set12 @d9dcd537",
        setup="the 12 images in <root>/set12", required=False),
    Dataset(
        "GOPRO_Large", "GoPro training/test pairs (<sequence>/blur, <sequence>/sharp)", {"": 3214 * 2},
        ("python -m training.train_deblur --recipe gpu --gopro ROOT (any folder; this one is only a suggestion)",),
        "S. Nah, T. H. Kim, K. M. Lee, CVPR 2017 (as gopro_blurred_only); "
        "https://seungjunnah.github.io/Datasets/gopro.html (GOPRO_Large.zip)",
        "CC BY 4.0 (per the authors)",
        setup="unzip GOPRO_Large.zip and pass its folder as --gopro", required=False),
)


def datasets_root() -> Path:
    """The datasets root as ``studio.data`` reads it now (STUDIO_DATASETS, else ../shared/datasets)."""
    return Path(os.environ["STUDIO_DATASETS"]) if os.environ.get("STUDIO_DATASETS") else DATASETS


def dataset_of(path) -> Dataset | None:
    """The catalogued dataset a folder belongs to (the folder itself or one inside it), if any."""
    path = Path(path).resolve()
    for root in dict.fromkeys((DATASETS.resolve(), datasets_root().resolve())):
        for dataset in CATALOG:
            if path == root / dataset.name or path.is_relative_to(root / dataset.name):
                return dataset
    return None


def count_images(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for _, _, files in os.walk(folder, followlinks=True) for name in files
               if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES)


@dataclass
class Status:
    dataset: Dataset
    folder: Path
    counts: dict[str, int]

    @property
    def state(self) -> str:
        found = list(self.counts.values())
        if not any(found):
            return "missing"
        if all(n >= self.dataset.parts[part] for part, n in self.counts.items()):
            return "ok"
        return "incomplete"


def check(root=None) -> list[Status]:
    root = Path(root) if root is not None else datasets_root()
    return [Status(d, root / d.name, {part: count_images(root / d.name / part) for part in d.parts}) for d in CATALOG]


def _describe_counts(status: Status, which: str) -> str:
    parts = status.dataset.parts if which == "expected" else status.counts
    if list(parts) == [""]:
        return str(parts[""])
    return ", ".join(f"{part}/ {n}" for part, n in parts.items())


def report(statuses: list[Status], root: Path, width: int = 100) -> str:
    source = "STUDIO_DATASETS" if os.environ.get("STUDIO_DATASETS") else "default: ../shared/datasets beside the repository"
    lines = [f"Datasets root: {root} ({'--root' if root != datasets_root() else source})", ""]
    indent = " " * 12

    def field_line(label: str, text: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=f"  {label:<9} ", subsequent_indent=indent,
                             break_on_hyphens=False, break_long_words=False)

    for optional in (False, True):
        chosen = [s for s in statuses if s.dataset.required != optional]
        if optional and chosen:
            lines += ["Optional (demos, benchmarks, the GPU recipe; not read by default):", ""]
        for status in chosen:
            d = status.dataset
            state = status.state.upper() if status.state != "ok" else "ok"
            lines.append(f"[{state}] {d.name}: {d.title}")
            lines.append(f"  {'folder':<9} {status.folder}")
            lines.append(f"  {'images':<9} found {_describe_counts(status, 'found')}; "
                         f"expected {_describe_counts(status, 'expected')}")
            for i, use in enumerate(d.used_by):
                lines += field_line("used by" if i == 0 else "", use)
            lines += field_line("original", d.source)
            lines += field_line("terms", d.terms)
            if d.copy:
                lines += field_line("copy used", d.copy)
            if d.setup:
                lines += field_line("layout", d.setup)
            for note in d.notes:
                lines += field_line("note", note)
            lines.append("")
    required = [s for s in statuses if s.dataset.required]
    absent = [s.dataset.name for s in required if s.state != "ok"]
    lines.append(f"{len(required) - len(absent)} of {len(required)} datasets read by default are present"
                 + (f"; missing or incomplete: {', '.join(absent)}." if absent else "."))
    if absent:
        lines.append("A command that needs a missing folder stops with one line naming it. Put the datasets in "
                     f"{root}, or set STUDIO_DATASETS=/path, or pass the command its own --data/--val/--clean folders.")
    return "\n".join(lines)


# ---- prepare ----------------------------------------------------------------------------------

def prepare_tiny_imagenet(source, dest, per_class: int = 100, seed: int = 0) -> dict[str, int]:
    """Tiny ImageNet as the classifiers read it, from the official ``tiny-imagenet-200`` folder:
    ``train/<wnid>/`` with ``per_class`` images per class (a seeded sample; 0 keeps all 500) and every
    ``val`` image moved into ``val/<wnid>/`` by ``val_annotations.txt``. Files are copied."""
    import numpy as np

    source, dest = Path(source), Path(dest)
    wnids_file, annotations = source / "wnids.txt", source / "val" / "val_annotations.txt"
    if not wnids_file.is_file() or not annotations.is_file():
        raise FileNotFoundError(f"{source}: not a tiny-imagenet-200 folder (wnids.txt and val/val_annotations.txt "
                                "expected); download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it")
    wnids = wnids_file.read_text().split()
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0}
    for wnid in sorted(wnids):
        folder = source / "train" / wnid / "images"
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        if per_class and len(files) > per_class:
            files = [files[i] for i in sorted(rng.choice(len(files), per_class, replace=False))]
        for path in files:
            target = dest / "train" / wnid / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        counts["train"] += len(files)
    for line in annotations.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in wnids:
            continue
        target = dest / "val" / fields[1] / fields[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / "val" / "images" / fields[0], target)
        counts["val"] += 1
    for name in ("wnids.txt", "words.txt"):
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="where each dataset is expected, whether it is there, its source")
    check_parser.add_argument("--root", help="datasets folder to check (default: STUDIO_DATASETS or ../shared/datasets)")
    prepare = commands.add_parser("prepare-tiny-imagenet", help="lay out the official tiny-imagenet-200 folder for the "
                                                                "classifiers")
    prepare.add_argument("source", help="the unzipped tiny-imagenet-200 folder")
    prepare.add_argument("--root", help="datasets folder to write into (default: STUDIO_DATASETS or ../shared/datasets)")
    prepare.add_argument("--per-class", type=int, default=100,
                         help="training images per class, a seeded sample (default 100, as the shipped runs; 0: all 500)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else datasets_root()
    if args.command == "check":
        statuses = check(root)
        print(report(statuses, root, width=max(80, min(120, shutil.get_terminal_size((100, 20)).columns))))
        return 0 if all(s.state == "ok" for s in statuses if s.dataset.required) else 1
    dest = root / "tiny_imagenet_subset"
    try:
        counts = prepare_tiny_imagenet(args.source, dest, args.per_class)
    except (FileNotFoundError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {counts['train']} train and {counts['val']} val images to {dest}")
    return 0
