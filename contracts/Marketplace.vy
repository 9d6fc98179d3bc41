# pragma version 0.4.3
"""
@title depinsim marketplace: settlement, escrowed leases, provider stakes
@notice Buyers' money for the network sits here. Every epoch the operator settles what buyers owe each
        provider: the provider gets its gross pay less the protocol fee and the burn share (both computed
        here, rounding down per provider); the fee goes to the treasury, or stays to buy tokens and burn
        them, as does the burn share. A sampled job can instead lock its price in a lease: it settles in
        full when the job ends, or pro rata to the work done when its provider fails, the rest refunded
        and the provider's stake slashed. Provider stakes are held here per provider.
"""

interface IToken:
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable
    def burn(amount: uint256): nonpayable
    def balanceOf(account: address) -> uint256: view

MAX_BATCH: constant(uint256) = 512
PPM: constant(uint256) = 1_000_000

struct Lease:
    buyer: address
    provider: address
    locked: uint256
    open: bool

event Settled:
    epoch: indexed(uint256)
    gross: uint256
    fees: uint256
    burn_share: uint256

event LeaseOpened:
    lease_id: indexed(uint256)
    buyer: indexed(address)
    provider: indexed(address)
    locked: uint256

event LeaseClosed:
    lease_id: indexed(uint256)
    paid: uint256
    refunded: uint256
    slashed: uint256

event Slashed:
    provider: indexed(address)
    amount: uint256

usd: public(IToken)
token: public(IToken)
treasury: public(address)
operator: public(address)
fee_ppm: public(uint256)
burn_ppm: public(uint256)
fee_to_treasury: public(bool)
next_epoch: public(uint256)
leases: public(HashMap[uint256, Lease])
stake_of: public(HashMap[address, uint256])
total_stake: public(uint256)


@deploy
def __init__(usd_: address, token_: address, treasury_: address, fee_ppm_: uint256, burn_ppm_: uint256,
             fee_to_treasury_: bool):
    assert fee_ppm_ + burn_ppm_ <= PPM, "fee and burn above 100%"
    self.usd = IToken(usd_)
    self.token = IToken(token_)
    self.treasury = treasury_
    self.operator = msg.sender
    self.fee_ppm = fee_ppm_
    self.burn_ppm = burn_ppm_
    self.fee_to_treasury = fee_to_treasury_


@external
def settle(epoch: uint256, providers: DynArray[address, MAX_BATCH], gross: DynArray[uint256, MAX_BATCH],
           last: bool):
    """
    @notice Pay providers for an epoch out of the buyers' money held here. An epoch may take several
            calls (at most MAX_BATCH providers each); ``last`` closes it.
    """
    assert msg.sender == self.operator, "operator only"
    assert epoch >= self.next_epoch, "epochs settle in order, once"
    assert len(providers) == len(gross), "length mismatch"
    fees: uint256 = 0
    burns: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(len(providers), bound=MAX_BATCH):
        fee: uint256 = gross[i] * self.fee_ppm // PPM
        burn_part: uint256 = gross[i] * self.burn_ppm // PPM
        net: uint256 = gross[i] - fee - burn_part
        if net > 0:
            extcall self.usd.transfer(providers[i], net)
        fees += fee
        burns += burn_part
        total += gross[i]
    if self.fee_to_treasury and fees > 0:
        extcall self.usd.transfer(self.treasury, fees)
    if last:
        self.next_epoch = epoch + 1
    log Settled(epoch=epoch, gross=total, fees=fees, burn_share=burns)


@external
def open_lease(lease_id: uint256, provider: address, amount: uint256):
    """@notice A buyer locks a job's price (approve this contract on the USD token first)."""
    assert not self.leases[lease_id].open and self.leases[lease_id].buyer == empty(address), "lease id used"
    assert amount > 0, "empty lease"
    extcall self.usd.transferFrom(msg.sender, self, amount)
    self.leases[lease_id] = Lease(buyer=msg.sender, provider=provider, locked=amount, open=True)
    log LeaseOpened(lease_id=lease_id, buyer=msg.sender, provider=provider, locked=amount)


@internal
def _pay_out(lease: Lease, amount: uint256):
    fee: uint256 = amount * self.fee_ppm // PPM
    burn_part: uint256 = amount * self.burn_ppm // PPM
    if amount - fee - burn_part > 0:
        extcall self.usd.transfer(lease.provider, amount - fee - burn_part)
    if self.fee_to_treasury and fee > 0:
        extcall self.usd.transfer(self.treasury, fee)


@external
def close_lease(lease_id: uint256, done_ppm: uint256, slash_ppm: uint256):
    """
    @notice End a lease: the provider is paid for the share of the work done (all of it when the job
            finished), the buyer refunded the rest; a failed provider loses ``slash_ppm`` of its stake.
    """
    assert msg.sender == self.operator, "operator only"
    assert done_ppm <= PPM and slash_ppm <= PPM, "shares are at most 1,000,000 ppm"
    lease: Lease = self.leases[lease_id]
    assert lease.open, "no open lease"
    self.leases[lease_id].open = False
    paid: uint256 = lease.locked * done_ppm // PPM
    refund: uint256 = lease.locked - paid
    self._pay_out(lease, paid)
    if refund > 0:
        extcall self.usd.transfer(lease.buyer, refund)
    slashed: uint256 = 0
    if slash_ppm > 0:
        slashed = self.stake_of[lease.provider] * slash_ppm // PPM
        self._slash(lease.provider, slashed)
    log LeaseClosed(lease_id=lease_id, paid=paid, refunded=refund, slashed=slashed)


@external
def credit_stakes(providers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]):
    """@notice Record stakes whose tokens have arrived here; operator only."""
    assert msg.sender == self.operator, "operator only"
    assert len(providers) == len(amounts), "length mismatch"
    total: uint256 = self.total_stake
    for i: uint256 in range(len(providers), bound=MAX_BATCH):
        self.stake_of[providers[i]] += amounts[i]
        total += amounts[i]
    assert staticcall self.token.balanceOf(self) >= total, "stake tokens not received"
    self.total_stake = total


@view
@external
def stakes_of(providers: DynArray[address, MAX_BATCH]) -> DynArray[uint256, MAX_BATCH]:
    """@notice Many stakes in one call (for reconciliation)."""
    out: DynArray[uint256, MAX_BATCH] = []
    for p: address in providers:
        out.append(self.stake_of[p])
    return out


@internal
def _slash(provider: address, amount: uint256):
    self.stake_of[provider] -= amount  # reverts past the stake
    self.total_stake -= amount
    extcall self.token.burn(amount)
    log Slashed(provider=provider, amount=amount)


@external
def slash(providers: DynArray[address, MAX_BATCH], share_ppm: uint256):
    """@notice Burn a share of failed or cheating providers' stakes (rounded down); operator only."""
    assert msg.sender == self.operator, "operator only"
    assert share_ppm <= PPM, "share above 100%"
    for i: uint256 in range(len(providers), bound=MAX_BATCH):
        self._slash(providers[i], self.stake_of[providers[i]] * share_ppm // PPM)


@external
def release_stakes(providers: DynArray[address, MAX_BATCH], unit: uint256):
    """
    @notice Leaving providers get their stake back in whole payment units; what is left below the unit
            goes to the treasury; operator only.
    """
    assert msg.sender == self.operator, "operator only"
    assert unit > 0, "zero unit"
    dust: uint256 = 0
    released: uint256 = 0
    for i: uint256 in range(len(providers), bound=MAX_BATCH):
        stake: uint256 = self.stake_of[providers[i]]
        self.stake_of[providers[i]] = 0
        paid: uint256 = stake // unit * unit
        if paid > 0:
            extcall self.token.transfer(providers[i], paid)
        dust += stake - paid
        released += stake
    self.total_stake -= released
    if dust > 0:
        extcall self.token.transfer(self.treasury, dust)
