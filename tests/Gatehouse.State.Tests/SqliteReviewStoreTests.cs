namespace Gatehouse.State.Tests;

public sealed class SqliteReviewStoreTests() : ReviewStoreContract(new SqliteStoreFactory());
