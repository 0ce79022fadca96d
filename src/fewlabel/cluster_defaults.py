"""The clustering route of ``fewlabel cluster``, written once.

Its defaults are those of ``fewlabel cluster``, of :class:`~fewlabel.tasks.clusterer.ClusterModel`, of
:func:`~fewlabel.tasks.cluster.run_cluster` and of ``fewlabel run``'s ``[tasks.cluster]``; the low-level
:class:`~fewlabel.tasks.cluster.CodeClustering` shares the map's size and neighbours. Nothing is imported
here, so that the command line reads it for its options without loading scikit-learn or torch.
"""

#: The codes mapped by UMAP (``'auto'``: PCA where umap-learn is not installed) to ``manifold_dim`` dimensions
#: with ``n_neighbors`` neighbours, a Gaussian mixture with full covariances there, fitted from ``n_init`` starts
#: of which the one with the highest likelihood is kept (a mixture on a map has several local optima, and one
#: start lands in a poor one often enough to move a seed's score by points), then (``refine='auto'``) images
#: self-labelled by a small conv network that learns the clusters. ``standardize='auto'``: a table's columns
#: are centred and scaled first (unless a given encoder has its own scale), so that no column weighs more for
#: being written in smaller units. One UMAP map (``n_maps``): the consensus of several maps' clusters is an
#: option, not the default, since on Fashion-MNIST it moved with the maps drawn as much as one map does (README,
#: "Several maps").
CLUSTER_DEFAULTS = {"method": "gmm", "manifold": "auto", "manifold_dim": 10, "n_neighbors": 20, "n_init": 10,
                    "n_maps": 1, "refine": "auto", "standardize": "auto"}
