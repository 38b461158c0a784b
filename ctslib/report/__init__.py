"""The reproduction book's layer: figure specs (`figures.FIGURES`), tidy frames of runs (`frames`), the claims and
their verdicts (`claims`), Tables I and II (`tables`), statistics over seeds (`stats`), names and colours
(`names`), plots (`plots`), the mask explorer (`widgets`) and the benchmark appendix (`benchmarks`).
"""
