"""The classification family (the experiment protocol's classifiers, `dilated-cnn` and
`resnet-dropout`): its generated result tables (``studio.classify.tables``). The networks are in
``models/``, their training in ``training/train_classifier.py`` and ``training/protocol/``."""
