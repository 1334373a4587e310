namespace Gatehouse.Protocol;

/// <summary>SQLSTATE codes Gatehouse raises itself.</summary>
public static class SqlStates
{
    public const string ProtocolViolation = "08P01";
    public const string ConnectionFailure = "08006";
    public const string SqlClientUnableToEstablishConnection = "08001";
    public const string InvalidAuthorizationSpecification = "28000";
    public const string InvalidPassword = "28P01";
    public const string InvalidCatalogName = "3D000";
    public const string InsufficientPrivilege = "42501";
    public const string SyntaxError = "42601";
    public const string FeatureNotSupported = "0A000";
    public const string IoError = "58000";
    public const string QueryCanceled = "57014";
    public const string AdminShutdown = "57P01";
    public const string InternalError = "XX000";
    public const string TooManyConnections = "53300";
}
