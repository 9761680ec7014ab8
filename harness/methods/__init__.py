"""What every method is built on: the contract the Trainer calls (``contract``), the GAN base class (``gan``), the
adversarial losses, the step options that change how a step runs (not what it computes) and the whole-step graph.
A method package (``codegan``, ``baselines``, a plugin) imports from here; nothing here knows a method's losses."""
