"""PR curves and F-measure-vs-threshold curves of the stored results, one
figure each per dataset (matplotlib, Agg backend; PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

from salbench.report.escape import file_safe, mpl_escape
from salbench.report.layout import TABLE1_ROWS, dataset_order


def figures(store, out_dir: Path, *, protocol: str, datasets: list[str] | None,
            methods: list[str] | None) -> list[Path]:
    """PR curves and F-measure-vs-threshold curves, one figure each per dataset."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salbench.data.datasets import canonical_name, count_label
    from salbench.metrics.numeric import BETA2
    sums = store.summaries(methods=methods, datasets=None, protocol=protocol, curves=True)
    for s in sums:  # one spelling per dataset, the one `--datasets` and the tables use
        s["dataset"] = canonical_name(s["dataset"])
    if datasets:
        wanted = {canonical_name(d).lower() for d in datasets}
        sums = [s for s in sums if s["dataset"].lower() in wanted]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for ds in dataset_order({s["dataset"] for s in sums}):
        rows = [s for s in sums if s["dataset"] == ds and s.get("curves")
                and s["curves"].get("precision") and s["curves"].get("recall")]
        if not methods:
            rows = [s for s in rows if s["method"].lower() not in TABLE1_ROWS] or rows
        if not rows:
            continue
        fig_pr, ax_pr = plt.subplots(figsize=(5, 4.2))
        fig_f, ax_f = plt.subplots(figsize=(5, 4.2))
        for s in sorted(rows, key=lambda s: s["method"].lower()):
            p = [float(x) for x in s["curves"]["precision"]]
            r = [float(x) for x in s["curves"]["recall"]]
            f = s["curves"].get("f_curve")
            if not f:
                f = [(1 + BETA2) * a * b / (BETA2 * a + b) if (BETA2 * a + b) > 0 else 0.0
                     for a, b in zip(p, r)]
            part = count_label(ds, s.get("count"))
            lab = f"{mpl_escape(s['method'])} (maxF {max(f):.3f}" + (f", partial {part} images)" if part else ")")
            ax_pr.plot(r, p, label=lab, lw=1.4)
            ax_f.plot(range(len(f)), f, label=lab, lw=1.4)
        ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                  title=mpl_escape(f"PR curves, {ds} ({protocol})"))
        ax_f.set(xlabel="threshold", ylabel="F-measure (β²=0.3)", xlim=(0, 255), ylim=(0, 1.02),
                 title=mpl_escape(f"F-measure curves, {ds} ({protocol})"))
        for fig, ax, kind in ((fig_pr, ax_pr, "pr"), (fig_f, ax_f, "fmeasure")):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower left" if kind == "pr" else "lower center")
            fig.tight_layout()
            stem = out_dir / f"{kind}_{file_safe(ds)}_{protocol}"
            for ext in (".png", ".pdf"):
                fig.savefig(stem.with_suffix(ext), dpi=150)
                written.append(stem.with_suffix(ext))
            plt.close(fig)
    return written
