"""The `sslcourse` command.

    sslcourse train NAME [options]     train a method (simclr, byol, vicreg, simsiam, invariance,
                                       bert, gpt, clip,
                                       rotation, colorization, patches, jigsaw); `--help` after NAME
    sslcourse pretrain NAME|--all      remake a shipped pretrained encoder (sslcourse/checkpoints/NAME.pt
                                       + NAME.json); `--list` shows them with their measured kNN
    sslcourse release [ASSIGNMENT...]  regenerate exercises/ from solutions/ (nbgrader), then the
                                       student distribution build/student/ (folder, zip, wheel)
    sslcourse autograde [options]      grade submitted/<student>/<assignment>/ (or a folder of LMS zips)
    sslcourse render [NOTEBOOK...]     execute lecture notebooks, render HTML + reveal.js slides
    sslcourse site [--build DIR]       the course site in build/ (index.html, a page per lecture, search)
                                       from the rendered lectures (Sphinx + MyST-NB)
    sslcourse course                   the whole demo: release + lectures + demo grading + the course site
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslcourse import course  # nbgrader itself is imported only inside the course steps
from sslcourse.course.site import build_site  # Sphinx itself is imported only inside build_site
from sslcourse.recipes import RECIPES, pretrained, recipe


def _train(argv: list[str]) -> int:
    """``sslcourse train NAME ARGS``: hand ARGS to the recipe of NAME (``sslcourse.recipes.RECIPES``)."""
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: sslcourse train NAME [options]\n\nNAME is one of: " + ", ".join(RECIPES))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in RECIPES:
        print(f"sslcourse train: unknown method {name!r}; choose one of: {', '.join(RECIPES)}", file=sys.stderr)
        return 2
    return int(recipe(name).main(name, rest) or 0)


def _autograde(args: argparse.Namespace) -> None:
    """``sslcourse autograde``: collect LMS zips if asked, grade, print the table (typed calls only)."""
    root = Path(args.root).resolve()
    submitted = Path(args.submitted).resolve() if args.submitted else root / "submitted"
    names = args.assignments or course.assignments(root)
    if args.zips:
        course.collect_zips(args.zips, submitted, names)
    limits = {key: getattr(args, key) for key in ("timeout", "memory_gb", "student_timeout", "budget_factor",
                                                  "min_budget_s", "budget_s")
              if getattr(args, key) is not None}
    grades = course.autograde(root, submitted, students=args.students, names=names, out=args.out,
                              jobs=args.jobs or 1, **limits)
    print(course.grade_table(grades))
    print(f"grades written to {(Path(args.out) if args.out else root) / course.GRADES_CSV}; feedback in {root / 'feedback'}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        return _train(argv[1:])
    if argv and argv[0] == "pretrain":
        return pretrained.main(argv[1:])

    parser = argparse.ArgumentParser(prog="sslcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train a method (see `sslcourse train --help`)")
    sub.add_parser("pretrain", help="remake the shipped pretrained encoders (see `sslcourse pretrain --help`)")

    p = sub.add_parser("release", help="regenerate exercises/ from solutions/ and build the student distribution")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all in solutions/)")
    p.add_argument("--root", default=".", help="course folder (holds nbgrader_config.py)")

    p = sub.add_parser("autograde", help="grade submitted/<student>/<assignment>/")
    p.add_argument("--root", default=".", help="course folder (holds nbgrader_config.py)")
    p.add_argument("--submitted", default=None, help="folder of <student>/<assignment>/ (default ROOT/submitted)")
    p.add_argument("--zips", default=None, help="folder of LMS zip files to unpack into the submitted folder first")
    p.add_argument("--students", nargs="*", default=None, help="grade only these students (a shard)")
    p.add_argument("--assignments", nargs="*", default=None, help="grade only these assignments")
    p.add_argument("--jobs", type=int, default=1, help="students graded in parallel")
    p.add_argument("--out", default=None, help="where autograde-grades.csv goes (default ROOT)")
    p.add_argument("--timeout", type=int, default=None, help="seconds one cell may run (default: nbgrader_config.py)")
    p.add_argument("--memory-gb", type=float, default=None, help="memory cap of each grading kernel (0: none)")
    p.add_argument("--student-timeout", type=float, default=None,
                   help="seconds after which a submission's grading process is killed (a backstop)")
    p.add_argument("--budget-factor", type=float, default=None,
                   help="a submission may run this many times the solution's grading time (default 5)")
    p.add_argument("--min-budget", dest="min_budget_s", type=float, default=None,
                   help="... but at least this many seconds (default 120)")
    p.add_argument("--budget", dest="budget_s", type=float, default=None,
                   help="the budget in seconds for every assignment instead (0: none; skips timing the solutions)")

    p = sub.add_parser("merge", help="merge the graded shards of a large class into one course folder")
    p.add_argument("shards", nargs="+", help="course folders that each graded some students")
    p.add_argument("--root", default=".", help="the course folder to merge into")

    p = sub.add_parser("render", help="execute lecture notebooks and render HTML + slides")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: lectures/*.ipynb)")
    p.add_argument("--out", default="build/lectures", help="output folder")
    p.add_argument("--no-execute", action="store_true", help="render without executing")

    p = sub.add_parser("site", help="build the course site (build/index.html) from the rendered lectures")
    p.add_argument("--build", default="build", help="the build folder (holds lectures/ from `sslcourse render`)")
    p.add_argument("--lectures", default=None, help="the executed lecture notebooks (default BUILD/lectures)")
    p.add_argument("--no-grading-demo", action="store_true",
                   help="leave the demo class's grades off the landing page (a site for students)")

    p = sub.add_parser("course", help="release + lectures + demo autograde + the course site (build/index.html)")
    p.add_argument("--root", default=".", help="course folder")
    p.add_argument("--skip-lectures", action="store_true", help="do not execute/render the lectures")
    p.add_argument("--jobs", type=int, default=1, help="students graded in parallel")

    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            course.release(args.root, args.assignments or None)
            print(f"student distribution: {course.build_distribution(args.root)} (+ .zip)")
        elif args.command == "autograde":
            _autograde(args)
        elif args.command == "merge":
            for shard in args.shards:
                course.merge_course(shard, args.root)
            course.merge_grades_csv([Path(shard) / course.GRADES_CSV for shard in args.shards],
                                    Path(args.root) / course.GRADES_CSV)
        elif args.command == "render":
            course.render(args.notebooks or None, out=args.out, execute=not args.no_execute)
        elif args.command == "site":
            build_site(args.build, lectures_dir=args.lectures, grading_demo=not args.no_grading_demo)
        elif args.command == "course":
            course.build_course(args.root, lectures=not args.skip_lectures, jobs=args.jobs)
    except course.CourseError as err:
        print(f"sslcourse {args.command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
