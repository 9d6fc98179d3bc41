# pragma version 0.4.3
"""
@title depinsim reward distributor
@notice Pays an epoch's emission in one call (or a few, for large fleets): arrays of recipients and
        amounts, minted by the token (this contract is its minter). Epochs are paid in order, once each,
        and never past the schedule's cumulative cap for the epoch.
"""

interface IToken:
    def mint_many(receivers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]): nonpayable

MAX_BATCH: constant(uint256) = 512

event Distributed:
    epoch: indexed(uint256)
    total: uint256

token: public(IToken)
operator: public(address)
next_epoch: public(uint256)
distributed: public(uint256)


@deploy
def __init__(token_: address):
    self.token = IToken(token_)
    self.operator = msg.sender


@external
def distribute(epoch: uint256, receivers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH],
               cumulative_cap: uint256, last: bool):
    """
    @notice Mint an epoch's rewards. ``cumulative_cap``: the emission schedule's total up to the end of
            this epoch (base units); the distributor never pays past it.
    """
    assert msg.sender == self.operator, "operator only"
    assert epoch >= self.next_epoch, "epochs are paid in order, once"
    assert len(receivers) == len(amounts), "length mismatch"
    total: uint256 = 0
    for i: uint256 in range(len(amounts), bound=MAX_BATCH):
        total += amounts[i]
    self.distributed += total
    assert self.distributed <= cumulative_cap, "above the emission schedule"
    extcall self.token.mint_many(receivers, amounts)
    if last:
        self.next_epoch = epoch + 1
    log Distributed(epoch=epoch, total=total)
