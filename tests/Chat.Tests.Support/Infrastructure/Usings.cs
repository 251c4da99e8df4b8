global using Xunit;
global using Chat.Tests.Infrastructure;
