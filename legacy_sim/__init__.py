"""The simulated legacy estate: CRM (SQL), mobile BSS (REST), fixed/TV BSS (XML), partner catalogs
(TMF620), order back-ends, a change generator and the ground truth, all deterministic from a seed.

Entry points: :func:`legacy_sim.estate.build_estate`, :func:`legacy_sim.serve.serve`,
:class:`legacy_sim.change_generator.ChangeGenerator`, the ``sim_app`` typer app in
:mod:`legacy_sim.cli`. See ``README.md`` in this package.
"""
