namespace Gatehouse.State;

/// <summary>
/// A broadcast "something changed": <see cref="WaitAsync"/> completes at the next <see cref="Signal"/>. Each
/// signal swaps in a fresh task and completes the old one, so every waiter that started before it is released.
/// </summary>
internal sealed class ChangeSignal
{
    private TaskCompletionSource _next = New();

    public Task WaitAsync(CancellationToken ct) => Volatile.Read(ref _next).Task.WaitAsync(ct);

    public void Signal() => Interlocked.Exchange(ref _next, New()).TrySetResult();

    private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
