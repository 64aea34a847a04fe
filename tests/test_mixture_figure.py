import csv


from lazytrain import GaussianMixture, bayes_risk


def test_reproduce_fig2_quick_writes_risks_errors_and_bayes(quick_figure, drawn):
    tmp_path = quick_figure("fig2")
    # at d = 60 the exact NN levels off above the d → ∞ theory: the figure says it is finite d
    assert any(t.startswith("finite d = 60: exact NN 0.36") and "theory (d → ∞) 0.333" in t
               for t in drawn["fig2"]["texts"]), drawn["fig2"]["texts"]
    for name in ("fig2.png", "fig2.pdf", "fig2.csv"):
        assert (tmp_path / name).stat().st_size > 1000
    rows = list(csv.DictReader(open(tmp_path / "fig2.csv")))
    kinds = {(r["regime"], r["kind"]) for r in rows}
    assert kinds >= {(g, k) for g in ("rf", "nt", "nn") for k in ("theory", "exact")} | {("nn", "sgd")}
    task = GaussianMixture.paper(d=60, seed=0, frob2=4.0)  # the fig2 preset's task
    bayes = [r for r in rows if r["regime"] == "bayes"]
    assert bayes and all(float(r["risk"]) == bayes_risk(task, "square") for r in bayes)
    for r in rows:
        if r["regime"] in ("rf", "nt", "nn") and r["kind"] in ("exact", "sgd"):
            # a fitted predictor cannot beat the Bayes risks
            assert float(bayes[0]["risk"]) <= float(r["risk"]) <= 1.0
            assert float(bayes[0]["error"]) <= float(r["error"]) <= 0.5
    # SGD cannot beat the rank-N optimum, and should end near it
    exact_nn = {r["n_neurons"]: float(r["risk"]) for r in rows if r["regime"] == "nn" and r["kind"] == "exact"}
    for r in rows:
        if r["kind"] == "sgd":
            optimum = exact_nn[r["n_neurons"]]
            assert optimum - 1e-9 <= float(r["risk"]) <= optimum + max(0.02, 0.1 * optimum)
