"""One module per seed study (SEEDS.md §1-§5); ``examples/reproduce_study.py`` runs them."""
