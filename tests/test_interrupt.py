"""A Ctrl-C that Python drops (raised inside a weakref callback) still stops the command's training."""

import os
import signal
import weakref

import pytest

from fewlabel import interrupt


class Thing:
    pass


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal():
    """Python's own Ctrl-C handler, as in a terminal: a suite started in the background (``&`` without job
    control) inherits SIGINT ignored, where ``catching`` rightly leaves it alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _sigint_inside_a_callback():
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(100_000):  # Python runs the handler here, inside the callback, which drops what it raises
        pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_dropped_sigint_is_raised_at_the_next_check_once():
    before = signal.getsignal(signal.SIGINT)
    with interrupt.catching():
        thing = Thing()
        weakref.finalize(thing, _sigint_inside_a_callback)
        del thing  # the callback runs; its KeyboardInterrupt is printed and dropped
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        interrupt.check()  # once per signal
    assert signal.getsignal(signal.SIGINT) is before


def test_without_catching_nothing_is_recorded():
    interrupt.check()
    with pytest.raises(KeyboardInterrupt):
        with interrupt.catching():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100_000):
                pass
    interrupt.check()  # the interrupt was raised and the block left: nothing pending


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_training_loop_stops_at_the_next_step_after_a_dropped_sigint():
    import torch
    import torch.nn.functional as F

    from fewlabel.train import Trainer

    X = torch.randn(512, 8)
    y = (X[:, 0] > 0).long()
    net = torch.nn.Linear(8, 2)
    ended = []

    def drop_a_sigint(epoch, logs):
        ended.append(epoch)
        thing = Thing()
        weakref.finalize(thing, _sigint_inside_a_callback)
        del thing

    trainer = Trainer(epochs=50, batch_size=64, device="cpu", progress=False)
    trainer.on_epoch_end.append(drop_a_sigint)
    with interrupt.catching(), pytest.raises(KeyboardInterrupt):
        trainer.fit(net, lambda m, b: F.cross_entropy(m(b[0]), b[1]), (X, y))
    assert len(ended) == 1  # stopped in the second epoch's first step, not after 50 epochs


def test_an_ignored_sigint_stays_ignored():
    """A job started with nohup or ``&`` ignores Ctrl-C; catching does not make it stoppable."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupt.catching():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):
            pass
        interrupt.check()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
